import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { AuditPage, AuditQuery, AuditVerdict, AuditVerifyQuery, type AuditEntry } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';
import { withActorNames } from '../actor-names.js';

/** The audit log: read, verify, export. Admin only. */
export const auditRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/audit', route('admin', { summary: 'Audit entries, newest first (or oldest first after a seq, to follow the log)', query: AuditQuery, response: AuditPage }), async (req) => {
      const q = parseInput(AuditQuery, req.query, 'query');
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

    app.get('/audit/verify', route('admin', { summary: 'Verify the hash chain (and a head recorded earlier)', query: AuditVerifyQuery, response: AuditVerdict }), async (req) => {
      const { head } = parseInput(AuditVerifyQuery, req.query, 'query');
      return ctx.audit.verify(head ? [head] : []);
    });

    /** Every entry, oldest first, as JSON lines, streamed page by page. */
    app.get('/audit/export', route('admin', { summary: 'Every entry, oldest first, as JSON lines', produces: 'application/x-ndjson' }), async (_req, reply) => {
      const lines = async function* (entries: AsyncIterable<AuditEntry>) {
        for await (const e of entries) yield `${JSON.stringify(e)}\n`;
      };
      return reply
        .header('content-type', 'application/x-ndjson')
        .header('content-disposition', 'attachment; filename="aiflock-audit.jsonl"')
        .send(Readable.from(lines(ctx.store.audit.scan())));
    });
  };
