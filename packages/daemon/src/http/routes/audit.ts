import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AuditEntry } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { withActorNames } from '../actor-names.js';

const Instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString());
const Seq = z.coerce.number().int().min(0);
const ListQuery = z
  .object({
    actor: z.string().min(1).max(200).optional(),
    action: z.string().min(1).max(100).optional(),
    /** Exact, or a prefix ending in `*`. */
    resource: z.string().min(1).max(300).optional(),
    since: Instant.optional(),
    until: Instant.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    /** Newest first: entries older than this seq (the previous page's nextCursor). */
    cursor: Seq.optional(),
    /** Oldest first: entries newer than this seq (to follow the log). */
    after: Seq.optional(),
  })
  .strict()
  .refine((q) => q.cursor === undefined || q.after === undefined, { message: 'cursor and after cannot be combined', path: ['after'] });

const VerifyQuery = z
  .object({
    /** A head recorded earlier (`seq:hash`, as `aiflock audit verify` prints it), checked too. */
    head: z
      .string()
      .regex(/^[1-9]\d{0,15}:[0-9a-f]{64}$/, 'seq:hash, e.g. 42:<64 hex digits>')
      .transform((h) => {
        const [seq, hash] = h.split(':');
        return { seq: Number(seq), hash: hash! };
      })
      .optional(),
  })
  .strict();

const ADMIN = { config: { scope: 'admin' } } as const;

/** The audit log: read, verify, export. Admin only (the auth layer reads `config.scope`). */
export const auditRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/audit', ADMIN, async (req) => {
      const q = parseInput(ListQuery, req.query, 'query');
      const ascending = q.after !== undefined;
      const entries = await ctx.store.audit.list({
        actor: q.actor,
        action: q.action,
        resource: q.resource,
        since: q.since,
        until: q.until,
        limit: q.limit,
        beforeSeq: q.cursor,
        afterSeq: q.after,
        ascending,
      });
      const last = entries[entries.length - 1];
      return { entries: await withActorNames(ctx.store, entries), nextCursor: !ascending && entries.length === q.limit && last ? last.seq : null };
    });

    app.get('/audit/verify', ADMIN, async (req) => {
      const { head } = parseInput(VerifyQuery, req.query, 'query');
      return ctx.audit.verify(head ? [head] : []);
    });

    /** Every entry, oldest first, as JSON lines, streamed page by page. */
    app.get('/audit/export', ADMIN, async (_req, reply) => {
      const lines = async function* (entries: AsyncIterable<AuditEntry>) {
        for await (const e of entries) yield `${JSON.stringify(e)}\n`;
      };
      return reply
        .header('content-type', 'application/x-ndjson')
        .header('content-disposition', 'attachment; filename="aiflock-audit.jsonl"')
        .send(Readable.from(lines(ctx.store.audit.scan())));
    });
  };
