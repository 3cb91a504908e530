import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashingEmbedder, type ChunkRecord, type VectorIndex } from '@aiflock/core';
import { startPgliteWithPgvector, type TestPglite } from '../../../../testkit/pglite.js';
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

contract('pgvector index (PGlite)', async () => {
  pgl = await startPgliteWithPgvector();
  const store = await SqlStore.open(await postgresBackend({ url: pgl.url, poolSize: 1, connectTimeoutMs: 5_000 }));
  stores.push(store);
  return { store, index: await openVectorIndex('pgvector', store, () => undefined) };
});
