import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { CollectionList, CollectionParams, CollectionUpdate, CollectionView, ContextExportText, ContextJobParams as JobParams, ContextPack, ContextPackQuery, DocumentParams, ImportQuery, ImportResult, IngestRequest, IngestResult, MemoryParams, MemoryQuery, MemoryRecall, ReindexRequest, ReindexResult, SearchQuery, SearchResult } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/** The memory and context plane over HTTP, for people (scopes context:read / context:write). */
export const contextRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // Imports are JSON lines; only this plugin's routes accept them, up to 256 MiB.
    app.addContentTypeParser('application/x-ndjson', { parseAs: 'string', bodyLimit: 256 * 1024 * 1024 }, (_req, body, done) => done(null, body));

    app.post('/ingest', route('context:write', { summary: 'Add, update or delete documents of a collection (made on first use); unchanged documents are not re-embedded', body: IngestRequest, response: IngestResult, errors: ['embedding_mismatch'] }), async (req) => {
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

    app.get('/context/search', route('context:read', { summary: 'Hybrid (keyword and vector) search over collections', query: SearchQuery, response: SearchResult, errors: ['collection_not_found'] }), async (req) => ctx.context.search(parseInput(SearchQuery, req.query, 'query')));

    app.get('/context/collections', route('context:read', { summary: 'Collections with their embedding model and sharing', response: CollectionList }), async () => ({ collections: await ctx.store.context.collections.list() }));

    app.put('/context/collections/:name', route('context:write', { summary: 'Create a collection or set which agents it is shared with', params: CollectionParams, body: CollectionUpdate, response: CollectionView }), async (req) => {
      const { name } = parseInput(CollectionParams, req.params, 'params');
      const body = parseInput(CollectionUpdate, req.body ?? {}, 'body');
      return audited(ctx.audit, req, 'context.collection.configure', `collection/${name}`, () => ctx.context.configureCollection(name, body.sharedWith), (c) => ({ details: { sharedWith: c.sharedWith } }));
    });

    app.delete('/context/collections/:name/documents/:id', route('context:write', { summary: 'Delete a document and its chunks', params: DocumentParams, status: 204, errors: ['collection_not_found', 'document_not_found'] }), async (req, reply) => {
      const { name, id } = parseInput(DocumentParams, req.params, 'params');
      await audited(ctx.audit, req, 'context.document.delete', `collection/${name}/${id}`, () => ctx.context.deleteDocument(name, id));
      return reply.status(204).send();
    });

    app.post('/context/collections/:name/reindex', route('context:write', { summary: 'Re-embed a collection with the configured model', params: CollectionParams, body: ReindexRequest, response: ReindexResult, errors: ['collection_not_found'] }), async (req) => {
      const { name } = parseInput(CollectionParams, req.params, 'params');
      const { mode } = parseInput(ReindexRequest, req.body ?? {}, 'body');
      return audited(ctx.audit, req, 'context.reindex', `collection/${name}`, () => ctx.context.reindex(name, mode), (r) => ({ details: r }));
    });

    app.get('/context/collections/:name/export', route('context:read', { summary: 'A collection as JSON lines: a header, then each document with its chunks and vectors', params: CollectionParams, produces: 'application/x-ndjson', errors: ['collection_not_found'] }), async (req, reply) => {
      const { name } = parseInput(CollectionParams, req.params, 'params');
      await ctx.context.collection(name); // 404 before the stream starts
      const lines = ctx.context.exportCollection(name);
      async function* withNewlines() {
        for await (const l of lines) yield `${l}\n`;
      }
      return reply.type('application/x-ndjson').send(Readable.from(withNewlines()));
    });

    app.post('/context/import', route('context:write', { summary: 'Import an export (application/x-ndjson), optionally under another name', query: ImportQuery, body: ContextExportText, consumes: 'application/x-ndjson', response: ImportResult, errors: ['embedding_mismatch'] }), async (req) => {
      const { as } = parseInput(ImportQuery, req.query, 'query');
      const lines = parseInput(ContextExportText, req.body, 'body').split('\n');
      return audited(ctx.audit, req, 'context.import', `collection/${as ?? 'import'}`, () => ctx.context.importCollection(lines, { as }), (r) => ({ resource: `collection/${r.collection}`, details: r }));
    });

    app.get('/context/:jobId', route('context:read', { summary: "A job's context pack: the best chunks for its input within a token budget", params: JobParams, query: ContextPackQuery, response: ContextPack, errors: ['task_not_found', 'collection_not_found'] }), async (req) => {
      const { jobId } = parseInput(JobParams, req.params, 'params');
      const q = parseInput(ContextPackQuery, req.query, 'query');
      return ctx.context.pack(jobId, q.budget, q.collection);
    });

    app.get('/memory/:agent', route('context:read', { summary: "An agent's memories most relevant to a query (reading does not refresh them)", params: MemoryParams, query: MemoryQuery, response: MemoryRecall }), async (req) => {
      const { agent } = parseInput(MemoryParams, req.params, 'params');
      const q = parseInput(MemoryQuery, req.query, 'query');
      // Reading an agent's memory must not refresh its recency: looking changes nothing.
      return { agent, memories: await ctx.memory.recall(agent, q.q, q.k, { touch: false }) };
    });
  };
