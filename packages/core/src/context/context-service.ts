import { createHash } from 'node:crypto';
import type { ContextPack, IngestRequest, IngestResult, SearchQuery, SearchResult } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { ChunkRecord, CollectionRecord, ContextStore, DocumentRecord } from '../ports/context-store.js';
import type { Embedder } from '../ports/embedder.js';
import type { TaskRecord } from '../ports/store.js';
import type { VectorIndex } from '../ports/vector-index.js';
import { Catalogs } from './catalog.js';
import { chunkDocument } from './chunker.js';
import { exportLines, importLines } from './collection-io.js';
import { assertSameModel, embedAll, embedText } from './embedding.js';
import { packHits, queryOf } from './job-pack.js';
import { rankChunks, type RankedHit } from './ranking.js';

// A job's query is part of this service's public face, though it is computed beside the pack.
export { queryOf } from './job-pack.js';

export interface ContextServiceDeps {
  store: ContextStore;
  tasks: { get(id: string): Promise<TaskRecord | undefined> };
  embedder: Embedder;
  index: VectorIndex;
  clock: Clock;
  /** Upper bound of a chunk, in estimated tokens. */
  chunkTokens?: number;
  /**
   * The vector list's weight in hybrid search's fusion (the keyword list's is 1); `auto`
   * (default) weighs a semantic embedder's list above words alone (see `fusion.ts`).
   */
  vectorWeight?: number | 'auto';
  /** Chunks re-embedded and saved per step of a re-index (what an interruption can lose). */
  reindexBatch?: number;
  /** Called during re-indexing with the chunks done so far. */
  progress?: (collection: string, done: number, total: number) => void;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The context plane: ingest (chunk, embed, store, index), hybrid search (BM25 + vectors
 * fused by RRF), context packs for jobs, re-indexing, export and import.
 */
export class ContextService {
  /**
   * Keyword indexes per collection, rebuilt when the collection's revision changes. Every
   * write through this service bumps the revision, so other services on the same store see
   * the change too.
   */
  private readonly catalogs: Catalogs;

  constructor(private readonly deps: ContextServiceDeps) {
    this.catalogs = new Catalogs(deps.store);
  }

  /** Mark a collection changed: a new revision for every reader, and drop our own cache. */
  private async changed(name: string): Promise<void> {
    this.catalogs.forget(name);
    const c = await this.deps.store.collections.get(name);
    if (!c) return;
    let now = this.deps.clock.now().toISOString();
    // A revision must differ from the last one even within one clock tick.
    if (now <= c.updatedAt) now = new Date(Date.parse(c.updatedAt) + 1).toISOString();
    await this.deps.store.collections.upsert({ ...c, updatedAt: now });
  }

  get embedder(): Embedder {
    return this.deps.embedder;
  }

  async collection(name: string): Promise<CollectionRecord> {
    const c = await this.deps.store.collections.get(name);
    if (!c) throw new FlockError('collection_not_found', `no context collection named "${name}"`, { collection: name });
    return c;
  }

  /** Model and dimension are known (an embedder behind the gateway learns them by a first call). */
  private async embedderReady(): Promise<void> {
    await this.deps.embedder.ready?.();
  }

  /** Create the collection (recording the embedder's model) or change who it is shared with. */
  async configureCollection(name: string, sharedWith?: string[]): Promise<CollectionRecord> {
    const now = this.deps.clock.now().toISOString();
    const have = await this.deps.store.collections.get(name);
    if (!have) await this.embedderReady();
    const rec: CollectionRecord = have
      ? { ...have, sharedWith: sharedWith ?? have.sharedWith, updatedAt: now }
      : { name, model: this.deps.embedder.model, dimension: this.deps.embedder.dimension, sharedWith: sharedWith ?? [], createdAt: now, updatedAt: now };
    await this.deps.store.collections.upsert(rec);
    return rec;
  }

  async ingest(req: IngestRequest): Promise<IngestResult> {
    const { store, index, clock } = this.deps;
    const ids = req.documents.map((d) => d.id ?? d.source);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup !== undefined) throw new FlockError('validation_failed', `document id "${dup}" appears twice in one request`, { id: dup });
    const existing = await store.collections.get(req.collection);
    // Deleting from an existing collection needs no embedder: it works while the model is
    // down or after it changed.
    const deleteOnly = req.documents.length === 0 && existing !== undefined;
    if (!deleteOnly) await this.embedderReady();
    // A new collection is only written with its first document, so a request that fails before
    // storing anything (e.g. the embedder fails) leaves no empty collection behind.
    const created = clock.now().toISOString();
    const coll: CollectionRecord = existing ?? { name: req.collection, model: this.deps.embedder.model, dimension: this.deps.embedder.dimension, sharedWith: [], createdAt: created, updatedAt: created };
    let persisted = existing !== undefined;
    const persist = async () => {
      if (!persisted) await store.collections.upsert(coll);
      persisted = true;
    };
    if (!deleteOnly) assertSameModel(coll, this.deps.embedder);
    const result: IngestResult = { collection: coll.name, model: coll.model, dimension: coll.dimension, documents: [], deleted: [] };
    for (const [i, d] of req.documents.entries()) {
      const id = ids[i]!;
      const now = clock.now().toISOString();
      const hash = sha256(`${d.kind}\n${d.text}`);
      const old = await store.documents.get(coll.name, id);
      const meta = { source: d.source, title: d.title ?? null, tags: [...d.tags].sort(), owner: d.owner ?? null };
      if (old && old.contentHash === hash && JSON.stringify({ source: old.source, title: old.title, tags: old.tags, owner: old.owner }) === JSON.stringify(meta)) {
        result.documents.push({ id, chunks: 0, status: 'unchanged' });
        continue;
      }
      const pieces = chunkDocument(d.text, d.kind, this.deps.chunkTokens);
      const vectors = await embedAll(this.deps.embedder, pieces.map((p) => embedText(d.title ?? null, p.heading, p.text)));
      const doc: DocumentRecord = { collection: coll.name, id, kind: d.kind, ...meta, contentHash: hash, createdAt: old?.createdAt ?? now, updatedAt: now };
      const chunks: ChunkRecord[] = pieces.map((p, ord) => ({
        collection: coll.name,
        id: `${id}#${ord}`,
        documentId: id,
        ord,
        heading: p.heading,
        text: p.text,
        tokens: p.tokens,
        model: coll.model,
        embedding: vectors[ord]!,
      }));
      await persist();
      const replaced = await store.documents.replace(doc, chunks);
      const kept = new Set(chunks.map((c) => c.id));
      await index.remove(coll.name, replaced.filter((r) => !kept.has(r)));
      await index.upsert(coll.name, chunks.map((c) => ({ id: c.id, vector: c.embedding })));
      result.documents.push({ id, chunks: chunks.length, status: old ? 'updated' : 'created' });
    }
    for (const id of req.delete) {
      const removed = persisted ? await store.documents.remove(coll.name, id) : undefined;
      if (removed) await index.remove(coll.name, removed);
      result.deleted.push({ id, found: removed !== undefined });
    }
    if (result.documents.some((d) => d.status !== 'unchanged') || result.deleted.some((d) => d.found)) await this.changed(coll.name);
    return result;
  }

  async deleteDocument(collection: string, id: string): Promise<void> {
    await this.collection(collection);
    const removed = await this.deps.store.documents.remove(collection, id);
    if (!removed) throw new FlockError('document_not_found', `no document "${id}" in collection "${collection}"`, { collection, id });
    await this.deps.index.remove(collection, removed);
    await this.changed(collection);
  }

  /**
   * Re-embed a collection with the configured embedder. The collection records the new
   * model first, so new ingests use it at once; `incremental` re-embeds only chunks still
   * on another model (so an interrupted run resumes where it stopped), `full` all of them.
   * Until a chunk is re-embedded it is found by keyword search only.
   */
  async reindex(name: string, mode: 'full' | 'incremental'): Promise<{ collection: string; model: string; dimension: number; reembedded: number }> {
    const { store, index, embedder, clock } = this.deps;
    const coll = await this.collection(name);
    await this.embedderReady();
    if (coll.model !== embedder.model || coll.dimension !== embedder.dimension) {
      await store.collections.upsert({ ...coll, model: embedder.model, dimension: embedder.dimension, updatedAt: clock.now().toISOString() });
    }
    const notModel = mode === 'incremental' ? embedder.model : undefined;
    const total = await store.chunks.count(name, notModel);
    let done = 0;
    for (let after: string | undefined; ; ) {
      const page = await store.chunks.list(name, { after, limit: this.deps.reindexBatch ?? 256, notModel });
      if (page.length === 0) break;
      const docs = new Map<string, DocumentRecord | undefined>();
      for (const c of page) if (!docs.has(c.documentId)) docs.set(c.documentId, await store.documents.get(name, c.documentId));
      const vectors = await embedAll(embedder, page.map((c) => embedText(docs.get(c.documentId)?.title ?? null, c.heading, c.text)));
      const updates = page.map((c, i) => ({ id: c.id, model: embedder.model, embedding: vectors[i]! }));
      await store.chunks.setEmbeddings(name, updates);
      await index.upsert(name, updates.map((u) => ({ id: u.id, vector: u.embedding })));
      done += page.length;
      this.deps.progress?.(name, done, total);
      after = page[page.length - 1]!.id;
      await this.changed(name);
    }
    await this.changed(name);
    return { collection: name, model: embedder.model, dimension: embedder.dimension, reembedded: done };
  }

  async search(q: SearchQuery, opts: { collections?: readonly string[] } = {}): Promise<SearchResult> {
    const { hits, notes } = await this.rank(q, opts);
    return { query: q.q, mode: q.mode, hits: hits.map(({ text: _text, ...h }) => h), notes };
  }

  /** Search hits with their chunk's full text (for packs), over the collections the caller may read. */
  private async rank(q: SearchQuery, opts: { collections?: readonly string[] }): Promise<{ hits: RankedHit[]; notes: string[] }> {
    const { store } = this.deps;
    const wanted = q.collection === undefined ? undefined : Array.isArray(q.collection) ? q.collection : [q.collection];
    let collections: CollectionRecord[];
    if (wanted) collections = await Promise.all(wanted.map((n) => this.collection(n)));
    else collections = await store.collections.list();
    if (opts.collections) {
      const allowed = new Set(opts.collections);
      const denied = collections.find((c) => !allowed.has(c.name));
      if (wanted && denied) throw new FlockError('context_forbidden', `collection "${denied.name}" is not shared with the caller`, { collection: denied.name });
      collections = collections.filter((c) => allowed.has(c.name));
    }
    const cats = await Promise.all(collections.map(async (c) => ({ c, cat: await this.catalogs.of(c) })));
    return rankChunks(q, cats, this.deps);
  }

  /** The best chunks for a job's task input that fit `budget` tokens, deduplicated, with provenance. */
  async pack(jobId: string, budget: number, collection?: string | string[]): Promise<ContextPack> {
    const task = await this.deps.tasks.get(jobId);
    if (!task) throw new FlockError('task_not_found', `no task with id "${jobId}"`, { jobId });
    const query = queryOf(task.input);
    if (!query.trim()) return { jobId, query, budget, used: 0, items: [], skipped: [] };
    const res = await this.rank({ q: query.slice(0, 2000), collection, topK: 50, mode: 'hybrid' }, {});
    return packHits(jobId, query, budget, res.hits);
  }

  /** JSON lines: the collection header, then each document with its chunks and vectors. */
  async *exportCollection(name: string): AsyncGenerator<string> {
    const c = await this.collection(name);
    yield* exportLines(this.deps.store, c);
  }

  /**
   * Import an export: the collection is created with the file's model and dimension, or must
   * already have the same ones. Every line is checked before anything is written.
   */
  async importCollection(lines: readonly string[], opts: { as?: string } = {}): Promise<{ collection: string; documents: number; chunks: number }> {
    const { existed, ...result } = await importLines(this.deps, lines, opts.as);
    // A new collection keeps the file's revision (exact round trip); an existing one changed.
    if (existed) await this.changed(result.collection);
    else this.catalogs.forget(result.collection);
    return result;
  }
}
