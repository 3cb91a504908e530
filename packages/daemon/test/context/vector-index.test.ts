import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashingEmbedder, type ChunkRecord, type VectorIndex } from '@aiflock/core';
import { startPgliteWithPgvector, type TestPglite } from '../../../../testkit/pglite.js';
import { nativePgvector, startPostgres, type TestPostgres } from '../../../../testkit/postgres.js';
import { postgresBackend } from '../../src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { openVectorIndex } from '../../src/adapters/vector-index/open.js';

/** The VectorIndex port: the same answers from the in-process index and from pgvector. */
const e = new HashingEmbedder(64);
const texts = ['red apple pie', 'green apple tart', 'blue whale song', 'red wine vinegar', 'apple orchard in spring'];
const now = new Date().toISOString();
const chunk = (collection: string, ord: number, text: string): ChunkRecord => ({ collection, id: `d#${ord}`, documentId: 'd', ord, heading: null, text, tokens: 3, model: e.model, embedding: e.embedOne(text) });
const doc = (collection: string) => ({ collection, id: 'd', kind: 'note' as const, source: 's', title: null, tags: [], owner: null, contentHash: '0'.repeat(64), createdAt: now, updatedAt: now });

function contract(name: string, open: () => Promise<{ index: VectorIndex; store: SqlStore }>) {
  describe(name, () => {
    let index: VectorIndex;
    let store: SqlStore;
    beforeAll(async () => {
      ({ index, store } = await open());
      // Chunk rows first (the truth), then the index, as ContextService does.
      for (const name of ['v', 'w']) await store.context.collections.upsert({ name, model: e.model, dimension: 64, sharedWith: [], createdAt: now, updatedAt: now });
      const v = texts.map((t, i) => chunk('v', i, t));
      await store.context.documents.replace(doc('v'), v);
      await index.upsert('v', v.map((c) => ({ id: c.id, vector: c.embedding })));
      const w = [chunk('w', 0, 'blue whale song')];
      await store.context.documents.replace(doc('w'), w);
      await index.upsert('w', w.map((c) => ({ id: c.id, vector: c.embedding })));
    }, 60_000);

    it('returns the nearest first with cosine scores, within one collection', async () => {
      const hits = await index.query('v', e.embedOne('apple'), 3);
      expect(hits.map((h) => h.id).sort()).toEqual(['d#0', 'd#1', 'd#4']);
      expect(hits[0]!.score).toBeGreaterThanOrEqual(hits[1]!.score);
      expect(hits[0]!.score).toBeLessThanOrEqual(1.000001);
      const exact = await index.query('v', e.embedOne('blue whale song'), 1);
      expect(exact[0]!.id).toBe('d#2');
      expect(exact[0]!.score).toBeCloseTo(1, 5);
      expect((await index.query('w', e.embedOne('apple'), 5)).map((h) => h.id)).toEqual(['d#0']);
    });

    it('restricts to the allowed ids, replaces on upsert, forgets on remove', async () => {
      expect((await index.query('v', e.embedOne('apple'), 5, new Set(['d#2', 'd#3']))).map((h) => h.id).sort()).toEqual(['d#2', 'd#3']);
      const fresh = e.embedOne('apple apple apple');
      await store.context.chunks.setEmbeddings('v', [{ id: 'd#2', model: e.model, embedding: fresh }]);
      await index.upsert('v', [{ id: 'd#2', vector: fresh }]);
      expect((await index.query('v', fresh, 1))[0]!.id).toBe('d#2');
      await store.context.documents.replace(doc('v'), texts.map((t, i) => chunk('v', i, t)).filter((c) => c.id !== 'd#2'));
      await index.remove('v', ['d#2', 'missing']);
      expect((await index.query('v', e.embedOne('apple'), 10)).map((h) => h.id).sort()).toEqual(['d#0', 'd#1', 'd#3', 'd#4']);
    });

    it('after a restart (a fresh index over the same store) answers the same', async () => {
      const again = await openVectorIndex(index.kind as 'store' | 'pgvector', store, () => undefined);
      expect(await again.query('v', e.embedOne('apple'), 10)).toEqual(await index.query('v', e.embedOne('apple'), 10));
    });
  });
}

let dir: string;
let pgl: TestPglite;
const stores: SqlStore[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-vi-'));
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await pgl?.stop();
  rmSync(dir, { recursive: true, force: true });
});

contract('in-process index', async () => {
  const store = await SqlStore.open(sqliteBackend(join(dir, 'v.db')));
  stores.push(store);
  return { store, index: await openVectorIndex('store', store, () => undefined) };
});

describe('in-process index top-k', () => {
  it('equals scoring every vector and sorting them all', async () => {
    const store = await SqlStore.open(sqliteBackend(join(dir, 'topk.db')));
    stores.push(store);
    const words = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox', 'gnu', 'hen'];
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const chunks = Array.from({ length: 300 }, (_, i) => chunk('t', i, Array.from({ length: 4 }, () => words[Math.floor(rnd() * words.length)]).join(' ')));
    await store.context.collections.upsert({ name: 't', model: e.model, dimension: 64, sharedWith: [], createdAt: now, updatedAt: now });
    await store.context.documents.replace(doc('t'), chunks);
    const index = await openVectorIndex('store', store, () => undefined);
    for (const q of ['ant bee', 'fox', 'hen hen cat', 'zebra']) {
      const qv = e.embedOne(q);
      const all = chunks
        .map((c) => ({ id: c.id, score: c.embedding.reduce((s, x, i) => s + Math.fround(x) * Math.fround(qv[i]!), 0) }))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
      for (const k of [1, 7, 50, 400]) {
        const got = await index.query('t', qv, k);
        expect(got.map((h) => h.id)).toEqual(all.slice(0, k).map((h) => h.id));
      }
      const allowed = new Set(chunks.filter((_, i) => i % 3 === 0).map((c) => c.id));
      expect((await index.query('t', qv, 10, allowed)).map((h) => h.id)).toEqual(all.filter((h) => allowed.has(h.id)).slice(0, 10).map((h) => h.id));
    }
  });
});

// Native pgvector (scripts/install-pgvector.sh); the suite requires it, see nativePgvector.
const withNative = nativePgvector();
let native: TestPostgres | undefined;
const nativeStore = async (): Promise<SqlStore> => {
  native ??= await startPostgres();
  const db = await native.createDatabase('vi');
  const store = await SqlStore.open(await postgresBackend({ url: db.url, poolSize: 2, connectTimeoutMs: 5_000 }));
  stores.push(store);
  return store;
};
afterAll(async () => {
  await native?.stop();
});

for (const ann of withNative ? (['hnsw', 'exact'] as const) : []) {
  contract(`pgvector index (native PostgreSQL, ${ann})`, async () => {
    const store = await nativeStore();
    return { store, index: await openVectorIndex('pgvector', store, () => undefined, { ann, efSearch: 40 }) };
  });
}

describe.skipIf(!withNative)('pgvector HNSW graphs (native PostgreSQL)', () => {
  const hnswIndexes = async (store: SqlStore) =>
    (await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes where tablename = 'context_vectors' and indexname like 'context_vectors_hnsw_%'`.execute(store.db)).rows;
  const random = (n: number, dim: number, seed: number) => {
    let s = seed;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    return Array.from({ length: n }, () => {
      const v = Array.from({ length: dim }, rnd);
      const norm = Math.hypot(...v);
      return v.map((x) => Math.fround(x / norm));
    });
  };

  it('are used by unfiltered queries, find nearly all of the exact top 10, and leave rows of another dimension out instead of failing', async () => {
    const store = await nativeStore();
    const dim = 32;
    const vectors = random(2000, dim, 11);
    const chunks = vectors.map((v, i) => ({ ...chunk('h', i, `c${i}`), embedding: v }));
    await store.context.collections.upsert({ name: 'h', model: e.model, dimension: dim, sharedWith: [], createdAt: now, updatedAt: now });
    await store.context.documents.replace(doc('h'), chunks);
    const hnsw = await openVectorIndex('pgvector', store, () => undefined, { ann: 'hnsw', efSearch: 100 });
    await hnsw.upsert('h', chunks.map((c) => ({ id: c.id, vector: c.embedding })));
    const graphs = await hnswIndexes(store);
    expect(graphs).toHaveLength(1);
    expect(graphs[0]!.indexdef).toMatch(/USING hnsw .*vector\(32\).*vector_cosine_ops.*WHERE .*collection.*'h'.*vector_dims\(embedding\) = 32/);

    // The planner answers an unfiltered query from the graph, not by scanning.
    const q = random(1, dim, 99)[0]!;
    const plan = await store.db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      return sql<{ 'QUERY PLAN': string }>`explain select id from context_vectors where collection = 'h' and vector_dims(embedding) = 32 order by (embedding::vector(32)) <=> ${`[${q.join(',')}]`}::vector(32) limit 10`.execute(trx);
    });
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain(graphs[0]!.indexname);

    // Approximate, but close: top-10 recall against the exact scan over 50 queries.
    const exact = await openVectorIndex('pgvector', store, () => undefined, { ann: 'exact', efSearch: 100 });
    const again = await openVectorIndex('pgvector', store, () => undefined, { ann: 'hnsw', efSearch: 100 });
    expect(await hnswIndexes(store)).toHaveLength(1); // exact dropped it, hnsw rebuilt it
    let found = 0;
    for (const qv of random(50, dim, 5)) {
      const truth = new Set((await exact.query('h', qv, 10)).map((h) => h.id));
      const got = await again.query('h', qv, 10);
      expect(got).toHaveLength(10);
      found += got.filter((h) => truth.has(h.id)).length;
    }
    expect(found / 500).toBeGreaterThanOrEqual(0.95);
    // More results than the configured candidate list: ef_search rises to k (beyond pgvector's
    // 1,000, the collection is scanned).
    expect(await again.query('h', q, 300)).toHaveLength(300);

    // Mid re-index to a 16-dimension model: the new rows sit beside the graph, not in it.
    const small = random(3, 16, 3);
    await again.upsert('h', small.map((v, i) => ({ id: `n#${i}`, vector: v })));
    expect((await again.query('h', small[0]!, 1, new Set(['n#0', 'n#1', 'n#2'])))[0]).toMatchObject({ id: 'n#0' });
    expect((await again.query('h', q, 10)).map((h) => h.id)).toEqual((await exact.query('h', q, 10)).map((h) => h.id));
    expect((await again.query('h', q, 1500)).map((h) => h.id)).not.toContain('n#0');
    expect(await hnswIndexes(store)).toHaveLength(2);
  }, 120_000);

  it('are dropped when the index is opened with ann exact', async () => {
    const store = await nativeStore();
    await store.context.collections.upsert({ name: 'x', model: e.model, dimension: 64, sharedWith: [], createdAt: now, updatedAt: now });
    await openVectorIndex('pgvector', store, () => undefined, { ann: 'hnsw', efSearch: 40 });
    expect(await hnswIndexes(store)).toHaveLength(1);
    const exact = await openVectorIndex('pgvector', store, () => undefined, { ann: 'exact', efSearch: 40 });
    expect(await hnswIndexes(store)).toHaveLength(0);
    expect(await exact.query('x', e.embedOne('apple'), 3)).toEqual([]);
  });
});

contract('pgvector index (PGlite)', async () => {
  pgl = await startPgliteWithPgvector();
  const store = await SqlStore.open(await postgresBackend({ url: pgl.url, poolSize: 1, connectTimeoutMs: 5_000 }));
  stores.push(store);
  return { store, index: await openVectorIndex('pgvector', store, () => undefined) };
});
