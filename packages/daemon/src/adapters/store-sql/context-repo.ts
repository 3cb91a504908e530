import type { Kysely, Selectable } from 'kysely';
import type { ChunkRecord, CollectionRecord, ContextStore, DocumentKind, DocumentRecord, MemoryKind, MemoryRecord } from '@aiflock/core';
import type { AgentMemoriesTable, ContextChunksTable, ContextCollectionsTable, ContextDocumentsTable, Database } from './tables.js';

/** Ids per statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const BATCH = 500;

/** The memory and context plane's tables, on any Kysely backend. */
export function contextRepo(db: Kysely<Database>): ContextStore {
  return {
    collections: {
      get: async (name) => {
        const row = await db.selectFrom('context_collections').selectAll().where('name', '=', name).executeTakeFirst();
        return row && toCollection(row);
      },
      list: async () => (await db.selectFrom('context_collections').selectAll().orderBy('name').execute()).map(toCollection),
      upsert: async (r) => {
        const row = { name: r.name, model: r.model, dimension: r.dimension, shared_with: JSON.stringify(r.sharedWith), created_at: r.createdAt, updated_at: r.updatedAt };
        await db
          .insertInto('context_collections')
          .values(row)
          .onConflict((oc) => oc.column('name').doUpdateSet({ ...row }))
          .execute();
      },
      remove: async (name) => {
        await db.transaction().execute(async (trx) => {
          await trx.deleteFrom('context_chunks').where('collection', '=', name).execute();
          await trx.deleteFrom('context_documents').where('collection', '=', name).execute();
          await trx.deleteFrom('context_collections').where('name', '=', name).execute();
        });
      },
    },
    documents: {
      get: async (collection, id) => {
        const row = await db.selectFrom('context_documents').selectAll().where('collection', '=', collection).where('id', '=', id).executeTakeFirst();
        return row && toDocument(row);
      },
      list: async (collection, page) => {
        let q = db.selectFrom('context_documents').selectAll().where('collection', '=', collection).orderBy('id').limit(page.limit);
        if (page.afterId !== undefined) q = q.where('id', '>', page.afterId);
        return (await q.execute()).map(toDocument);
      },
      replace: async (doc, chunks) =>
        db.transaction().execute(async (trx) => {
          const old = await trx.selectFrom('context_chunks').select('id').where('collection', '=', doc.collection).where('document_id', '=', doc.id).execute();
          await trx.deleteFrom('context_chunks').where('collection', '=', doc.collection).where('document_id', '=', doc.id).execute();
          const row = fromDocument(doc);
          await trx
            .insertInto('context_documents')
            .values(row)
            .onConflict((oc) => oc.columns(['collection', 'id']).doUpdateSet({ ...row }))
            .execute();
          for (let i = 0; i < chunks.length; i += 100) {
            await trx.insertInto('context_chunks').values(chunks.slice(i, i + 100).map(fromChunk)).execute();
          }
          return old.map((r) => r.id);
        }),
      remove: async (collection, id) =>
        db.transaction().execute(async (trx) => {
          const gone = await trx.deleteFrom('context_documents').where('collection', '=', collection).where('id', '=', id).executeTakeFirst();
          if (Number(gone.numDeletedRows) === 0) return undefined;
          const old = await trx.selectFrom('context_chunks').select('id').where('collection', '=', collection).where('document_id', '=', id).execute();
          await trx.deleteFrom('context_chunks').where('collection', '=', collection).where('document_id', '=', id).execute();
          return old.map((r) => r.id);
        }),
    },
    chunks: {
      find: async (f) => {
        if (f.collections.length === 0) return [];
        const rows = await db
          .selectFrom('context_chunks as c')
          .innerJoin('context_documents as d', (j) => j.onRef('d.collection', '=', 'c.collection').onRef('d.id', '=', 'c.document_id'))
          .select(['c.collection', 'c.id', 'c.document_id', 'c.ord', 'c.heading', 'c.text', 'c.tokens', 'c.model'])
          .select(['d.kind', 'd.source', 'd.title', 'd.tags', 'd.owner', 'd.content_hash', 'd.created_at', 'd.updated_at'])
          .where('c.collection', 'in', f.collections)
          .orderBy('c.collection')
          .orderBy('c.id')
          .execute();
        // Tag and source filters in process: the same semantics on every backend (no LIKE escaping or JSON operators).
        const prefix = f.source?.endsWith('*') ? f.source.slice(0, -1) : null;
        const out: Awaited<ReturnType<ContextStore['chunks']['find']>> = [];
        for (const r of rows) {
          if (f.source !== undefined && (prefix !== null ? !r.source.startsWith(prefix) : r.source !== f.source)) continue;
          const tags = JSON.parse(r.tags) as string[];
          if (f.tags?.length && !f.tags.every((t) => tags.includes(t))) continue;
          out.push({
            chunk: { collection: r.collection, id: r.id, documentId: r.document_id, ord: r.ord, heading: r.heading, text: r.text, tokens: r.tokens, model: r.model },
            doc: {
              collection: r.collection,
              id: r.document_id,
              kind: r.kind as DocumentKind,
              source: r.source,
              title: r.title,
              tags,
              owner: r.owner,
              contentHash: r.content_hash,
              createdAt: r.created_at,
              updatedAt: r.updated_at,
            },
          });
        }
        return out;
      },
      list: async (collection, page) => {
        let q = db.selectFrom('context_chunks').selectAll().where('collection', '=', collection).orderBy('id').limit(page.limit);
        if (page.after !== undefined) q = q.where('id', '>', page.after);
        if (page.notModel !== undefined) q = q.where('model', '<>', page.notModel);
        return (await q.execute()).map(toChunk);
      },
      ofDocument: async (collection, documentId) =>
        (await db.selectFrom('context_chunks').selectAll().where('collection', '=', collection).where('document_id', '=', documentId).orderBy('ord').execute()).map(toChunk),
      setEmbeddings: async (collection, updates) => {
        await db.transaction().execute(async (trx) => {
          for (const u of updates) {
            await trx.updateTable('context_chunks').set({ model: u.model, embedding: JSON.stringify(u.embedding) }).where('collection', '=', collection).where('id', '=', u.id).execute();
          }
        });
      },
      count: async (collection, notModel) => {
        let q = db.selectFrom('context_chunks').select((eb) => eb.fn.countAll<number>().as('n')).where('collection', '=', collection);
        if (notModel !== undefined) q = q.where('model', '<>', notModel);
        return Number((await q.executeTakeFirstOrThrow()).n);
      },
    },
    memories: {
      add: async (m) => {
        await db.insertInto('agent_memories').values(fromMemory(m)).execute();
      },
      list: async (agent, limit) => {
        let q = db.selectFrom('agent_memories').selectAll().where('agent', '=', agent).orderBy('created_at', 'desc').orderBy('id', 'desc');
        if (limit !== undefined) q = q.limit(limit);
        return (await q.execute()).map(toMemory);
      },
      count: async (agent) => Number((await db.selectFrom('agent_memories').select((eb) => eb.fn.countAll<number>().as('n')).where('agent', '=', agent).executeTakeFirstOrThrow()).n),
      touch: async (agent, ids, at) => {
        for (let i = 0; i < ids.length; i += BATCH) {
          await db.updateTable('agent_memories').set({ last_accessed_at: at }).where('agent', '=', agent).where('id', 'in', ids.slice(i, i + BATCH)).execute();
        }
      },
      remove: async (agent, ids) => {
        for (let i = 0; i < ids.length; i += BATCH) {
          await db.deleteFrom('agent_memories').where('agent', '=', agent).where('id', 'in', ids.slice(i, i + BATCH)).execute();
        }
      },
    },
  };
}

const toCollection = (r: Selectable<ContextCollectionsTable>): CollectionRecord => ({
  name: r.name,
  model: r.model,
  dimension: Number(r.dimension),
  sharedWith: JSON.parse(r.shared_with) as string[],
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toDocument = (r: Selectable<ContextDocumentsTable>): DocumentRecord => ({
  collection: r.collection,
  id: r.id,
  kind: r.kind as DocumentKind,
  source: r.source,
  title: r.title,
  tags: JSON.parse(r.tags) as string[],
  owner: r.owner,
  contentHash: r.content_hash,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const fromDocument = (d: DocumentRecord): ContextDocumentsTable => ({
  collection: d.collection,
  id: d.id,
  kind: d.kind,
  source: d.source,
  title: d.title,
  tags: JSON.stringify(d.tags),
  owner: d.owner,
  content_hash: d.contentHash,
  created_at: d.createdAt,
  updated_at: d.updatedAt,
});

const toChunk = (r: Selectable<ContextChunksTable>): ChunkRecord => ({
  collection: r.collection,
  id: r.id,
  documentId: r.document_id,
  ord: Number(r.ord),
  heading: r.heading,
  text: r.text,
  tokens: Number(r.tokens),
  model: r.model,
  embedding: JSON.parse(r.embedding) as number[],
});

const fromChunk = (c: ChunkRecord): ContextChunksTable => ({
  collection: c.collection,
  id: c.id,
  document_id: c.documentId,
  ord: c.ord,
  heading: c.heading,
  text: c.text,
  tokens: c.tokens,
  model: c.model,
  embedding: JSON.stringify(c.embedding),
});

const toMemory = (r: Selectable<AgentMemoriesTable>): MemoryRecord => ({
  id: r.id,
  agent: r.agent,
  kind: r.kind as MemoryKind,
  text: r.text,
  importance: Number(r.importance),
  createdAt: r.created_at,
  lastAccessedAt: r.last_accessed_at,
  model: r.model,
  embedding: JSON.parse(r.embedding) as number[],
});

const fromMemory = (m: MemoryRecord): AgentMemoriesTable => ({
  id: m.id,
  agent: m.agent,
  kind: m.kind,
  text: m.text,
  importance: m.importance,
  created_at: m.createdAt,
  last_accessed_at: m.lastAccessedAt,
  model: m.model,
  embedding: JSON.stringify(m.embedding),
});
