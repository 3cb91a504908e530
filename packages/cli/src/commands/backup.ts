import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { printJson, println, progress } from '../output.js';

export function backupCommand(program: Command, client: () => ApiClient): void {
  program
    .command('backup')
    .description('write a consistent copy of the SQLite store to <file> while the daemon runs (PostgreSQL: use pg_dump, see docs/operations.md)')
    .argument('<file>', 'where to write the backup (replaced atomically)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      if (!o.json) progress('backing up the store...');
      const res = await client().download('/v1/system/backup');
      // Into a temporary sibling first, so an interrupted backup never leaves a torn file
      // under the requested name.
      const tmp = `${file}.partial`;
      try {
        await pipeline(Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]), createWriteStream(tmp, { mode: 0o600 }));
        await rename(tmp, file);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      const bytes = (await stat(file)).size;
      if (o.json) return printJson({ file, bytes });
      println(`backup written to ${file} (${bytes} bytes); restore with: aiflock restore <file>`);
    });
}
