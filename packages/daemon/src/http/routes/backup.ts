import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { FlockError } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { route } from '../route-doc.js';

/**
 * A consistent copy of the store, streamed to the caller (`aiflock backup <file>`): SQLite's
 * online backup into a temporary file, which is deleted once sent. PostgreSQL is backed up
 * with pg_dump (docs/operations.md).
 */
export const backupRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/system/backup', route('admin', { summary: 'A consistent copy of the SQLite store, as a file', produces: 'application/vnd.sqlite3', errors: ['backup_unsupported'] }), async (req, reply) => {
      const backup = ctx.backup;
      if (!backup) {
        throw new FlockError('backup_unsupported', `the ${ctx.store.kind} store is backed up with its own tools (pg_dump); see docs/operations.md`);
      }
      const dir = await mkdtemp(join(tmpdir(), 'aiflock-backup-'));
      const file = join(dir, 'flock.db');
      try {
        await backup(file);
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      const stream = createReadStream(file);
      // The file is open; removing its directory now leaves nothing behind whatever happens to the request.
      stream.once('open', () => void rm(dir, { recursive: true, force: true }));
      stream.once('error', () => void rm(dir, { recursive: true, force: true }));
      req.log.info({ store: ctx.store.kind }, 'store backup streamed');
      return reply.header('content-type', 'application/vnd.sqlite3').header('content-disposition', 'attachment; filename="flock.db"').send(stream);
    });
  };
