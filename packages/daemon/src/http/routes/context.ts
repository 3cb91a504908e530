import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { AgentName, CollectionName, CollectionSettings, ContextPackQuery, DocumentId, IngestRequest, ReindexRequest, SearchQuery, TaskId } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';

const READ = { config: { scope: 'context:read' } } as const;
const WRITE = { config: { scope: 'context:write' } } as const;
const CollectionParams = z.object({ name: CollectionName }).strict();
const DocumentParams = z.object({ name: CollectionName, id: DocumentId }).strict();
const JobParams = z.object({ jobId: TaskId }).strict();
const ImportQuery = z.object({ as: CollectionName.optional() }).strict();
const MemoryParams = z.object({ agent: AgentName }).strict();
const MemoryQuery = z.object({ q: z.string().min(1).max(2000), k: z.coerce.number().int().min(1).max(50).default(10) }).strict();

/** The memory and context plane over HTTP, for people (scopes context:read / context:write). */
export const contextRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // Imports are JSON lines; only this plugin's routes accept them, up to 256 MiB.
    app.addContentTypeParser('application/x-ndjson', { parseAs: 'string', bodyLimit: 256 * 1024 * 1024 }, (_req, body, done) => done(null, body));

    app.post('/ingest', WRITE, async (req) => {
      const collection = (req.body as { collection?: unknown } | undefined)?.collection;
      return audited(
        ctx.audit,
        req,
        'context.ingest',
        typeof collection === 'string' ? `collection/${collection.slice(0, 63)}` : 'collection',
        async () => ctx.context.ingest(parseInput(IngestRequest, req.body, 'body')),
        (r) => ({ details: { documents: r.documents.map((d) => `${d.id}:${d.status}`), deleted: r.deleted.map((d) => d.id) } }),
      );
    });

    app.get('/context/search', READ, async (req) => ctx.context.search(parseInput(SearchQuery, req.query, 'query')));

    app.get('/context/collections', READ, async () => ({ collections: await ctx.store.context.collections.list() }));

    app.put('/context/collections/:name', WRITE, async (req) => {
      const { name } = parseInput(CollectionParams, req.params, 'params');
      const body = parseInput(CollectionSettings.omit({ name: true }), req.body ?? {}, 'body');
      return audited(ctx.audit, req, 'context.collection.configure', `collection/${name}`, () => ctx.context.configureCollection(name, body.sharedWith), (c) => ({ details: { sharedWith: c.sharedWith } }));
    });

    app.delete('/context/collections/:name/documents/:id', WRITE, async (req, reply) => {
      const { name, id } = parseInput(DocumentParams, req.params, 'params');
      await audited(ctx.audit, req, 'context.document.delete', `collection/${name}/${id}`, () => ctx.context.deleteDocument(name, id));
      return reply.status(204).send();
    });

    app.post('/context/collections/:name/reindex', WRITE, async (req) => {
      const { name } = parseInput(CollectionParams, req.params, 'params');
      const { mode } = parseInput(ReindexRequest, req.body ?? {}, 'body');
      return audited(ctx.audit, req, 'context.reindex', `collection/${name}`, () => ctx.context.reindex(name, mode), (r) => ({ details: r }));
    });

    app.get('/context/collections/:name/export', READ, async (req, reply) => {
      const { name } = parseInput(CollectionParams, req.params, 'params');
      await ctx.context.collection(name); // 404 before the stream starts
      const lines = ctx.context.exportCollection(name);
      async function* withNewlines() {
        for await (const l of lines) yield `${l}\n`;
      }
      return reply.type('application/x-ndjson').send(Readable.from(withNewlines()));
    });

    app.post('/context/import', WRITE, async (req) => {
      const { as } = parseInput(ImportQuery, req.query, 'query');
      if (typeof req.body !== 'string') throw parseInput(z.string({ message: 'send the export as application/x-ndjson' }), req.body, 'body');
      const lines = req.body.split('\n');
      return audited(ctx.audit, req, 'context.import', `collection/${as ?? 'import'}`, () => ctx.context.importCollection(lines, { as }), (r) => ({ resource: `collection/${r.collection}`, details: r }));
    });

    app.get('/context/:jobId', READ, async (req) => {
      const { jobId } = parseInput(JobParams, req.params, 'params');
      const q = parseInput(ContextPackQuery, req.query, 'query');
      return ctx.context.pack(jobId, q.budget, q.collection);
    });

    app.get('/memory/:agent', READ, async (req) => {
      const { agent } = parseInput(MemoryParams, req.params, 'params');
      const q = parseInput(MemoryQuery, req.query, 'query');
      // Reading an agent's memory must not refresh its recency: looking changes nothing.
      return { agent, memories: await ctx.memory.recall(agent, q.q, q.k, { touch: false }) };
    });
  };
