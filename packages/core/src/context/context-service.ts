import { createHash } from 'node:crypto';
import type { ContextPack, ExportHeader, IngestRequest, IngestResult, SearchHit, SearchQuery, SearchResult } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { ChunkRecord, CollectionRecord, ContextStore, DocumentRecord } from '../ports/context-store.js';
import type { Embedder } from '../ports/embedder.js';
import type { TaskRecord } from '../ports/store.js';
import type { VectorIndex } from '../ports/vector-index.js';
import { KeywordIndex } from './bm25.js';
import { chunkDocument } from './chunker.js';
import { parseExport } from './export-format.js';
import { reciprocalRankFusion } from './fusion.js';
import { packWithinBudget } from './pack.js';
import { snippet } from './snippet.js';

export interface ContextServiceDeps {
  store: ContextStore;
  tasks: { get(id: string): Promise<TaskRecord | undefined> };
  embedder: Embedder;
  index: VectorIndex;
  clock: Clock;
  /** Upper bound of a chunk, in estimated tokens. */
  chunkTokens?: number;
  /** Chunks re-embedded and saved per step of a re-index (what an interruption can lose). */
  reindexBatch?: number;
  /** Called during re-indexing with the chunks done so far. */
  progress?: (collection: string, done: number, total: number) => void;
}

type Row = Awaited<ReturnType<ContextStore['chunks']['find']>>[number];

/** One collection's chunks with their keyword index, valid while the collection's revision (updatedAt) is unchanged. */
interface Catalog {
  revision: string;
  rows: Row[];
  byId: Map<string, Row>;
  keyword: KeywordIndex;
}

const matches = (doc: DocumentRecord, tags: readonly string[] | undefined, source: string | undefined): boolean =>
  (!tags?.length || tags.every((t) => doc.tags.includes(t))) &&
  (source === undefined || (source.endsWith('*') ? doc.source.startsWith(source.slice(0, -1)) : doc.source === source));

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const EMBED_BATCH = 64;

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
  private readonly catalogs = new Map<string, Catalog>();

  constructor(private readonly deps: ContextServiceDeps) {}

  /** Mark a collection changed: a new revision for every reader, and drop our own cache. */
  private async changed(name: string): Promise<void> {
    this.catalogs.delete(name);
    const c = await this.deps.store.collections.get(name);
    if (!c) return;
    let now = this.deps.clock.now().toISOString();
    // A revision must differ from the last one even within one clock tick.
    if (now <= c.updatedAt) now = new Date(Date.parse(c.updatedAt) + 1).toISOString();
    await this.deps.store.collections.upsert({ ...c, updatedAt: now });
  }

  private async catalog(c: CollectionRecord): Promise<Catalog> {
    const have = this.catalogs.get(c.name);
    if (have && have.revision === c.updatedAt) return have;
    const rows = await this.deps.store.chunks.find({ collections: [c.name] });
    const cat: Catalog = {
      revision: c.updatedAt,
      rows,
      byId: new Map(rows.map((r) => [r.chunk.id, r])),
      keyword: KeywordIndex.build(rows.map((r) => ({ id: r.chunk.id, text: embedText(r.doc.title, r.chunk.heading, r.chunk.text) }))),
    };
    this.catalogs.set(c.name, cat);
    return cat;
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

  /** The collection's vectors must come from the configured embedder, or they cannot be compared. */
  private assertSameModel(c: CollectionRecord): void {
    const e = this.deps.embedder;
    if (c.model !== e.model || c.dimension !== e.dimension) {
      throw new FlockError(
        'embedding_mismatch',
        `collection "${c.name}" holds vectors from model ${c.model} (dimension ${c.dimension}) but the configured embedder is ${e.model} (dimension ${e.dimension}); re-index it (aiflock context reindex ${c.name}) or configure the same model`,
        { collection: c.name, collectionModel: c.model, collectionDimension: c.dimension, embedderModel: e.model, embedderDimension: e.dimension },
      );
    }
  }

  private async embed(texts: string[]): Promise<number[][]> {
    const { embedder } = this.deps;
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += EMBED_BATCH) {
      const vs = await embedder.embed(texts.slice(i, i + EMBED_BATCH));
      for (const v of vs) {
        if (v.length !== embedder.dimension) {
          throw new FlockError('embedding_mismatch', `the embedder ${embedder.model} returned a vector of dimension ${v.length}, not the ${embedder.dimension} it declares`, {
            model: embedder.model,
            expected: embedder.dimension,
            got: v.length,
          });
        }
        out.push(v);
      }
    }
    return out;
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
    if (!deleteOnly) this.assertSameModel(coll);
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
      const vectors = await this.embed(pieces.map((p) => embedText(d.title ?? null, p.heading, p.text)));
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
      const vectors = await this.embed(page.map((c) => embedText(docs.get(c.documentId)?.title ?? null, c.heading, c.text)));
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

  /** Search hits with their chunk's full text (for packs). */
  private async rank(q: SearchQuery, opts: { collections?: readonly string[] }): Promise<{ hits: (SearchHit & { text: string })[]; notes: string[] }> {
    const { store, index, embedder } = this.deps;
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
    const notes: string[] = [];
    const filtered = Boolean(q.tags?.length) || q.source !== undefined;
    const cats = await Promise.all(collections.map(async (c) => ({ c, cat: await this.catalog(c) })));
    const depth = Math.max(q.topK * 5, 50);
    const lists: { id: string; score: number }[][] = [];
    const key = (c: string, id: string) => `${c}\u0000${id}`;
    const allowedOf = (cat: Catalog) => (filtered ? new Set(cat.rows.filter((r) => matches(r.doc, q.tags, q.source)).map((r) => r.chunk.id)) : undefined);
    const allowedBy = new Map(cats.map(({ c, cat }) => [c.name, allowedOf(cat)]));
    if (q.mode !== 'vector') {
      // Scores from per-collection indexes are merged by value: BM25 of the same query is on a comparable scale.
      const kw = cats.flatMap(({ c, cat }) => cat.keyword.search(q.q, depth, allowedBy.get(c.name)).map((h) => ({ id: key(c.name, h.id), score: h.score })));
      lists.push(kw.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, depth));
    }
    // The query's vector. When the embedder's service is down, a hybrid search still answers
    // by keywords and says why; a vector-only search fails with that reason.
    let qv: number[] | undefined;
    if (q.mode !== 'keyword') {
      try {
        await this.embedderReady();
        [qv] = await this.embed([q.q]);
      } catch (err) {
        if (q.mode === 'vector' || !(err instanceof FlockError) || err.code !== 'llm_unavailable') throw err;
        notes.push(`keyword results only: ${err.message}`);
      }
    }
    if (qv) {
      const vectorHits: { id: string; score: number }[] = [];
      for (const { c, cat } of cats) {
        if (c.model !== embedder.model || c.dimension !== embedder.dimension) {
          notes.push(`collection "${c.name}" is embedded with ${c.model}, not the configured ${embedder.model}: keyword results only until it is re-indexed`);
          continue;
        }
        // Only chunks already embedded with the collection's model are comparable (mid re-index).
        const filter = allowedBy.get(c.name);
        const stale = cat.rows.some((r) => r.chunk.model !== c.model);
        const allowed = filter || stale ? new Set(cat.rows.filter((r) => r.chunk.model === c.model && (!filter || filter.has(r.chunk.id))).map((r) => r.chunk.id)) : undefined;
        if (allowed?.size === 0 || cat.rows.length === 0) continue;
        for (const h of await index.query(c.name, qv, depth, allowed)) vectorHits.push({ id: key(c.name, h.id), score: h.score });
      }
      vectorHits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
      lists.push(vectorHits.slice(0, depth));
    }
    const catOf = new Map(cats.map(({ c, cat }) => [c.name, cat]));
    const rowOf = (k: string) => {
      const at = k.indexOf('\u0000');
      return catOf.get(k.slice(0, at))?.byId.get(k.slice(at + 1));
    };
    // A vector index shared with another writer may know a chunk this catalog does not yet: skip it.
    const fused = reciprocalRankFusion(lists.map((l) => l.filter((h) => rowOf(h.id) !== undefined))).slice(0, q.topK);
    const hits = fused.map((f) => {
      const r = rowOf(f.id)!;
      const ranks = q.mode === 'hybrid' ? f.ranks : q.mode === 'keyword' ? [f.ranks[0]!, null] : [null, f.ranks[0]!];
      return {
        id: r.chunk.id,
        collection: r.chunk.collection,
        documentId: r.doc.id,
        source: r.doc.source,
        title: r.doc.title,
        heading: r.chunk.heading,
        tags: r.doc.tags,
        score: Number(f.score.toFixed(6)),
        keywordRank: ranks[0] ?? null,
        vectorRank: ranks[1] ?? null,
        snippet: snippet(r.chunk.text, q.q),
        text: r.chunk.text,
      };
    });
    return { hits, notes };
  }

  /** The best chunks for a job's task input that fit `budget` tokens, deduplicated, with provenance. */
  async pack(jobId: string, budget: number, collection?: string | string[]): Promise<ContextPack> {
    const task = await this.deps.tasks.get(jobId);
    if (!task) throw new FlockError('task_not_found', `no task with id "${jobId}"`, { jobId });
    const query = queryOf(task.input);
    if (!query.trim()) return { jobId, query, budget, used: 0, items: [], skipped: [] };
    const res = await this.rank({ q: query.slice(0, 2000), collection, topK: 50, mode: 'hybrid' }, {});
    const packed = packWithinBudget(
      res.hits.map((h) => ({ id: `${h.collection}/${h.id}`, text: h.text, score: h.score, hit: h })),
      budget,
    );
    return {
      jobId,
      query,
      budget,
      used: packed.used,
      items: packed.items.map((i) => ({
        id: i.id,
        text: i.text,
        tokens: i.tokens,
        score: i.score,
        provenance: { collection: i.hit.collection, documentId: i.hit.documentId, source: i.hit.source, title: i.hit.title, heading: i.hit.heading },
      })),
      skipped: packed.skipped,
    };
  }

  /** JSON lines: the collection header, then each document with its chunks and vectors. */
  async *exportCollection(name: string): AsyncGenerator<string> {
    const c = await this.collection(name);
    const header: ExportHeader = { type: 'collection', format: 'aiflock-context/1', name: c.name, model: c.model, dimension: c.dimension, sharedWith: c.sharedWith, createdAt: c.createdAt, updatedAt: c.updatedAt };
    yield JSON.stringify(header);
    for (let afterId: string | undefined; ; ) {
      const docs = await this.deps.store.documents.list(name, { afterId, limit: 200 });
      for (const d of docs) {
        const chunks = await this.deps.store.chunks.ofDocument(name, d.id);
        yield JSON.stringify({ type: 'document', document: d, chunks: chunks.map(({ collection: _c, documentId: _d, ...rest }) => rest) });
      }
      if (docs.length < 200) break;
      afterId = docs[docs.length - 1]!.id;
    }
  }

  /**
   * Import an export: the collection is created with the file's model and dimension, or must
   * already have the same ones. Every line is checked before anything is written.
   */
  async importCollection(lines: readonly string[], opts: { as?: string } = {}): Promise<{ collection: string; documents: number; chunks: number }> {
    const parsed = parseExport(lines);
    const name = opts.as ?? parsed.header.name;
    const { store, index, clock } = this.deps;
    const have = await store.collections.get(name);
    if (have && (have.model !== parsed.header.model || have.dimension !== parsed.header.dimension)) {
      throw new FlockError('embedding_mismatch', `collection "${name}" holds vectors from ${have.model} (dimension ${have.dimension}); the file has ${parsed.header.model} (dimension ${parsed.header.dimension})`, {
        collection: name,
        collectionModel: have.model,
        fileModel: parsed.header.model,
      });
    }
    if (!have) {
      const h = parsed.header;
      await store.collections.upsert({ name, model: h.model, dimension: h.dimension, sharedWith: h.sharedWith, createdAt: h.createdAt, updatedAt: h.updatedAt ?? clock.now().toISOString() });
    }
    let chunkCount = 0;
    for (const { document, chunks } of parsed.documents) {
      const doc = { ...document, collection: name };
      const rows = chunks.map((c) => ({ ...c, collection: name, documentId: doc.id }));
      const replaced = await store.documents.replace(doc, rows);
      await index.remove(name, replaced);
      await index.upsert(name, rows.map((c) => ({ id: c.id, vector: c.embedding })));
      chunkCount += rows.length;
    }
    // A new collection keeps the file's revision (exact round trip); an existing one changed.
    if (have) await this.changed(name);
    else this.catalogs.delete(name);
    return { collection: name, documents: parsed.documents.length, chunks: chunkCount };
  }
}

/** Title and heading are part of what a chunk is about, so both signals see them. */
function embedText(title: string | null, heading: string | null, text: string): string {
  return [title, heading, text].filter(Boolean).join('\n');
}

/** A job's query: its input as text (strings as they are, objects as their string values). */
export function queryOf(input: unknown): string {
  if (typeof input === 'string') return input;
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(input);
  return out.join(' ');
}
