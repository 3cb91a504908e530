import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlockError, HashingEmbedder, newTaskId, type ContextService, type Embedder } from '@aiflock/core';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { task } from '../store-contract/fixtures.js';
import { contextOn, corpusDocuments } from './harness.js';

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (err instanceof FlockError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a FlockError');
};

describe('context service on a real SQLite store', () => {
  let dir: string;
  let store: SqlStore;
  let ctx: ContextService;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-ctx-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    ctx = (await contextOn(store)).service;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const doc = (id: string, text: string, over: Record<string, unknown> = {}) => ({ id, kind: 'document' as const, source: `src/${id}`, text, tags: [], ...over });

  it('creates the collection with the embedder model, updates by id, skips unchanged, deletes', async () => {
    const r1 = await ctx.ingest({ collection: 'notes', documents: [doc('a', '# A\n\nalpha bravo\n\n## B\n\ncharlie delta')], delete: [] });
    expect(r1).toMatchObject({ collection: 'notes', model: 'hashing-v1-256', dimension: 256, documents: [{ id: 'a', chunks: 2, status: 'created' }] });
    expect((await ctx.search({ q: 'charlie', topK: 5, mode: 'hybrid' })).hits[0]).toMatchObject({ documentId: 'a', heading: 'A > B', source: 'src/a' });
    const r2 = await ctx.ingest({ collection: 'notes', documents: [doc('a', '# A\n\nalpha bravo\n\n## B\n\ncharlie delta')], delete: [] });
    expect(r2.documents[0]!.status).toBe('unchanged');
    await ctx.ingest({ collection: 'notes', documents: [doc('a', 'echo foxtrot only')], delete: [] });
    expect(await store.context.chunks.count('notes')).toBe(1);
    expect((await ctx.search({ q: 'charlie', topK: 5, mode: 'keyword' })).hits).toEqual([]);
    expect((await ctx.search({ q: 'foxtrot', topK: 5, mode: 'hybrid' })).hits.map((h) => h.id)).toEqual(['a#0']);
    const r3 = await ctx.ingest({ collection: 'notes', documents: [], delete: ['a', 'missing'] });
    expect(r3.deleted).toEqual([{ id: 'a', found: true }, { id: 'missing', found: false }]);
    expect((await ctx.search({ q: 'foxtrot', topK: 5, mode: 'hybrid' })).hits).toEqual([]);
    expect(await code(ctx.deleteDocument('notes', 'a'))).toMatchObject({ code: 'document_not_found' });
  });

  it('filters by collection, tags and source; each hit has source, score and snippet', async () => {
    await ctx.ingest({ collection: 'code', documents: corpusDocuments(), delete: [] });
    await ctx.ingest({ collection: 'notes', documents: [doc('n1', 'a note about backoff and retries', { tags: ['personal'] })], delete: [] });
    const all = await ctx.search({ q: 'backoff', topK: 10, mode: 'hybrid' });
    expect(new Set(all.hits.map((h) => h.collection))).toEqual(new Set(['code', 'notes']));
    const onlyNotes = await ctx.search({ q: 'backoff', collection: 'notes', topK: 10, mode: 'hybrid' });
    expect(onlyNotes.hits.map((h) => h.documentId)).toEqual(['n1']);
    const tagged = await ctx.search({ q: 'backoff', tags: ['code'], topK: 10, mode: 'hybrid' });
    expect(tagged.hits.every((h) => h.tags.includes('code'))).toBe(true);
    expect(tagged.hits[0]).toMatchObject({ documentId: 'retry.ts', source: 'corpus/retry.ts' });
    expect(tagged.hits[0]!.score).toBeGreaterThan(0);
    expect(tagged.hits[0]!.snippet).toContain('backoff');
    const bySource = await ctx.search({ q: 'backoff', source: 'src/*', topK: 10, mode: 'hybrid' });
    expect(bySource.hits.map((h) => h.documentId)).toEqual(['n1']);
    expect(await code(ctx.search({ q: 'x', collection: 'nope', topK: 3, mode: 'hybrid' }))).toMatchObject({ code: 'collection_not_found' });
  });

  it('refuses to mix embedding models, and re-indexes fully or incrementally when the model changes', async () => {
    await ctx.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
    const total = await store.context.chunks.count('corpus');
    const other = (await contextOn(store, { embedder: new HashingEmbedder(64) })).service;
    const mismatch = await code(other.ingest({ collection: 'corpus', documents: [doc('x', 'y')], delete: [] }));
    expect(mismatch.code).toBe('embedding_mismatch');
    expect(mismatch.message).toContain('hashing-v1-256 (dimension 256)');
    expect(mismatch.message).toContain('hashing-v1-64 (dimension 64)');
    expect(await store.context.documents.get('corpus', 'x')).toBeUndefined();
    // Until re-indexed, search with the new model falls back to keywords and says so.
    const before = await other.search({ q: 'token bucket', topK: 3, mode: 'hybrid' });
    expect(before.notes[0]).toContain('re-indexed');
    expect(before.hits[0]!.documentId).toBe('ratelimit.py');
    // Incremental: stop half-way (a failing embedder), then resume with only the rest.
    let calls = 0;
    const flaky: Embedder = {
      model: 'hashing-v1-64',
      dimension: 64,
      embed: async (t) => {
        if (++calls > 1) throw new Error('embedder went away');
        return new HashingEmbedder(64).embed(t);
      },
    };
    const { service: half } = await contextOn(store, { embedder: flaky, reindexBatch: 5 });
    await expect(half.reindex('corpus', 'incremental')).rejects.toThrow('embedder went away');
    const left = await store.context.chunks.count('corpus', 'hashing-v1-64');
    expect(left).toBeLessThan(total);
    expect(left).toBe(total - 5);
    const done = await other.reindex('corpus', 'incremental');
    expect(done).toEqual({ collection: 'corpus', model: 'hashing-v1-64', dimension: 64, reembedded: left });
    expect(await store.context.chunks.count('corpus', 'hashing-v1-64')).toBe(0);
    expect((await other.search({ q: 'token bucket', topK: 3, mode: 'vector' })).hits[0]!.documentId).toBe('ratelimit.py');
    expect((await other.reindex('corpus', 'full')).reembedded).toBe(total);
    expect((await other.reindex('corpus', 'incremental')).reembedded).toBe(0);
    expect(await store.context.collections.get('corpus')).toMatchObject({ model: 'hashing-v1-64', dimension: 64 });
  });

  it('an embedder that returns the wrong dimension is a clear error and stores nothing', async () => {
    const liar: Embedder = { model: 'liar', dimension: 8, embed: async (t) => t.map(() => [1, 0, 0]) };
    const { service } = await contextOn(store, { embedder: liar });
    const err = await code(service.ingest({ collection: 'l', documents: [doc('a', 'text')], delete: [] }));
    expect(err).toMatchObject({ code: 'embedding_mismatch' });
    expect(err.message).toContain('dimension 3, not the 8');
    expect(await store.context.documents.get('l', 'a')).toBeUndefined();
    expect(await store.context.collections.get('l')).toBeUndefined();
    // Two documents with one id in one request: refused before anything is written.
    const dup = await code(ctx.ingest({ collection: 'd', documents: [doc('x', 'one'), doc('x', 'two')], delete: [] }));
    expect(dup).toMatchObject({ code: 'validation_failed', message: 'document id "x" appears twice in one request' });
    expect(await store.context.collections.get('d')).toBeUndefined();
  });

  it('export then import round-trips a collection exactly, vectors included, and a bad file changes nothing', async () => {
    await ctx.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
    await ctx.configureCollection('corpus', ['scout']);
    const lines: string[] = [];
    for await (const l of ctx.exportCollection('corpus')) lines.push(l);
    expect(lines.length).toBe(corpusDocuments().length + 1);

    const dir2 = mkdtempSync(join(tmpdir(), 'aiflock-ctx2-'));
    const other = await SqlStore.open(sqliteBackend(join(dir2, 'flock.db')));
    try {
      const { service: ctx2 } = await contextOn(other);
      const broken = [...lines];
      broken[3] = broken[3]!.replace(/"embedding":\[[^\]]*\]/, '"embedding":[1,2]');
      const bad = await code(ctx2.importCollection(broken));
      expect(bad).toMatchObject({ code: 'validation_failed' });
      expect(bad.message).toMatch(/^import line 4: chunks\.0\.embedding has 2 numbers, the header's dimension is 256/);
      expect(await other.context.collections.get('corpus')).toBeUndefined();

      expect(await ctx2.importCollection(lines)).toMatchObject({ collection: 'corpus', documents: lines.length - 1 });
      const again: string[] = [];
      for await (const l of ctx2.exportCollection('corpus')) again.push(l);
      expect(again).toEqual(lines);
      const q = { q: 'hash chain tampering', topK: 5, mode: 'hybrid' as const };
      expect((await ctx2.search(q)).hits).toEqual((await ctx.search(q)).hits);

      // An existing collection with another model refuses the file.
      const { service: small } = await contextOn(other, { embedder: new HashingEmbedder(16) });
      await small.ingest({ collection: 'tiny', documents: [doc('t', 'tiny')], delete: [] });
      expect(await code(ctx2.importCollection(lines, { as: 'tiny' }))).toMatchObject({ code: 'embedding_mismatch' });
    } finally {
      await other.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('packs context for a job within its token budget, deduplicated, with provenance', async () => {
    await ctx.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
    // The same passage under two ids: only one may be packed.
    const text = 'Operators rotate the audit anchor key yearly; the hash chain is verified after rotation.';
    await ctx.ingest({ collection: 'ops', documents: [doc('copy1', text), doc('copy2', text)], delete: [] });
    const t = task({ id: newTaskId(new Date()), input: { question: 'how is the audit hash chain verified after tampering' } });
    await store.tasks.insert(t);
    const pack = await ctx.pack(t.id, 120);
    expect(pack.used).toBeLessThanOrEqual(120);
    expect(pack.items.reduce((s, i) => s + i.tokens, 0)).toBe(pack.used);
    expect(pack.items.length).toBeGreaterThan(0);
    expect(pack.items[0]!.provenance).toMatchObject({ source: expect.any(String), documentId: expect.any(String), collection: expect.any(String) });
    const texts = pack.items.map((i) => i.text);
    expect(new Set(texts).size).toBe(texts.length);
    const copies = pack.items.filter((i) => i.provenance.collection === 'ops').length + pack.skipped.filter((s) => s.reason === 'duplicate').length;
    expect(copies).toBe(2);
    expect(pack.skipped.some((s) => s.reason === 'duplicate')).toBe(true);
    expect(await code(ctx.pack(newTaskId(new Date()), 100))).toMatchObject({ code: 'task_not_found' });
  });
});
