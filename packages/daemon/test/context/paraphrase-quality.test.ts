import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashingEmbedder, tokenize, type Embedder } from '@aiflock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativePgvector, startPostgres, type TestPostgres } from '../../../../testkit/postgres.js';
import { MiniLmEmbedder } from '../../src/adapters/embedding/minilm-embedder.js';
import { postgresBackend } from '../../src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { contextOn, corpusDocuments, labelled, rankQuality } from './harness.js';

/**
 * Semantic search on the labelled paraphrase corpus (test/fixtures/paraphrase-corpus.json):
 * every query is answered by a document with no content word in common ("reset my password"
 * → "Forgot your login? ..."), among distractors that share the query's words. Hybrid search
 * and vector-only search with the lexical hashing embedder must stay below the floors and
 * with MiniLM reach them,
 * on SQLite, PostgreSQL and pgvector: the floors measure meaning, not shared words.
 */
interface Quality {
  recallAt5: number;
  mrr: number;
  /** Queries whose first hit is the paraphrase. */
  firstRight: number;
}
interface Paraphrases {
  floors: Record<'hybrid' | 'vector', Omit<Quality, 'firstRight'>>;
  documents: { id: string; text: string }[];
  queries: { q: string; relevant: string[] }[];
}
const corpus = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'test', 'fixtures', 'paraphrase-corpus.json'), 'utf8')) as Paraphrases;

/** Words that carry meaning, stemmed crudely (5-letter prefix) so "plants" and "plant" match. */
const STOP = new Set(['the', 'and', 'for', 'with', 'your', 'you', 'that', 'this', 'from', 'have', 'will', 'not', 'can', 'how', 'into', 'are', 'was', 'who', 'its', 'but', 'may', 'too', 'off']);
const stems = (text: string) => new Set(tokenize(text).filter((t) => t.length >= 3 && !STOP.has(t)).map((t) => t.slice(0, 5)));

/**
 * MiniLM's vectors are deterministic, so each text is embedded once (by the real worker, on
 * the first backend) and the other backends get the same vectors: what differs between them
 * is the store and the index, which is what they are measured for.
 */
function memoised(e: Embedder): Embedder {
  const seen = new Map<string, number[]>();
  return {
    model: e.model,
    dimension: e.dimension,
    ...(e.semantic ? { semantic: true } : {}),
    ready: async () => e.ready?.(),
    embed: async (texts) => {
      const missing = [...new Set(texts.filter((t) => !seen.has(t)))];
      const vs = await e.embed(missing);
      missing.forEach((t, i) => seen.set(t, vs[i]!));
      return texts.map((t) => seen.get(t)!);
    },
  };
}

async function measure(store: SqlStore, index: 'store' | 'pgvector', embedder: Embedder, vectorWeight?: number) {
  const { service } = await contextOn(store, { index, embedder, vectorWeight });
  await service.ingest({ collection: 'paraphrases', documents: corpus.documents.map((d) => ({ id: d.id, kind: 'note', source: `paraphrases/${d.id}`, text: d.text, tags: [] })), delete: [] });
  const perMode = { hybrid: await rankQuality(service, corpus.queries, 'hybrid', 10), vector: await rankQuality(service, corpus.queries, 'vector', 10) };
  console.log(`paraphrase quality (${store.kind}, ${index}, ${embedder.model}${vectorWeight === undefined ? '' : `, vector weight ${vectorWeight}`}):`, JSON.stringify(perMode));
  return perMode;
}

/**
 * Hashing must miss both floors of every mode, and MiniLM reach both. Under MiniLM, hybrid
 * search must put the paraphrase first at least as often as vector search alone: the keyword
 * list may not pull distractors that merely share the query's words above what the model
 * ranks first by meaning (weighted fusion, `context.hybridVectorWeight`).
 */
function expectHashingBelowMiniLmAbove(hashing: Record<'hybrid' | 'vector', Quality>, model: Record<'hybrid' | 'vector', Quality>): void {
  expect(model.hybrid.firstRight, 'MiniLM: hybrid puts the paraphrase first as often as vector-only').toBeGreaterThanOrEqual(model.vector.firstRight);
  for (const mode of ['hybrid', 'vector'] as const) {
    const floor = corpus.floors[mode];
    expect(hashing[mode].recallAt5, `hashing ${mode} recall@5`).toBeLessThan(floor.recallAt5);
    expect(hashing[mode].mrr, `hashing ${mode} MRR`).toBeLessThan(floor.mrr);
    expect(model[mode].recallAt5, `MiniLM ${mode} recall@5`).toBeGreaterThanOrEqual(floor.recallAt5);
    expect(model[mode].mrr, `MiniLM ${mode} MRR`).toBeGreaterThanOrEqual(floor.mrr);
  }
}

describe('search quality on the paraphrase corpus: MiniLM finds meaning, hashing does not', { timeout: 120_000 }, () => {
  let dir: string;
  let pgServer: TestPostgres;
  const worker = new MiniLmEmbedder();
  const minilm = memoised(worker);
  let pgInProcess: unknown;
  const stores: SqlStore[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-para-'));
    [pgServer] = await Promise.all([startPostgres(), worker.ready()]);
  }, 120_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
    await pgServer?.stop();
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sqlite = async (name: string) => {
    const s = await SqlStore.open(sqliteBackend(join(dir, `${name}.db`)));
    stores.push(s);
    return s;
  };
  const pg = async () => {
    const db = await pgServer.createDatabase('para');
    const s = await SqlStore.open(await postgresBackend({ url: db.url, poolSize: 4, connectTimeoutMs: 5_000 }));
    stores.push(s);
    return s;
  };

  it('the corpus is what it claims: 30+ pairs that share no content word, and distractors that share the queries\' words', () => {
    expect(corpus.queries.length).toBeGreaterThanOrEqual(30);
    const byId = new Map(corpus.documents.map((d) => [d.id, d.text]));
    for (const { q, relevant } of corpus.queries) {
      for (const r of relevant) {
        const shared = [...stems(q)].filter((w) => stems(byId.get(r)!).has(w));
        expect(shared, `"${q}" and ${r}`).toEqual([]);
      }
    }
    const answers = new Set(corpus.queries.flatMap((q) => q.relevant));
    const distractors = corpus.documents.filter((d) => !answers.has(d.id));
    expect(distractors.length).toBeGreaterThanOrEqual(30);
    const queryWords = new Set(corpus.queries.flatMap((q) => [...stems(q.q)]));
    for (const d of distractors) expect([...stems(d.text)].some((w) => queryWords.has(w)), d.id).toBe(true);
  });

  it('SQLite, in-process index', async () => {
    const hashing = await measure(await sqlite('hashing'), 'store', new HashingEmbedder(256));
    const model = await measure(await sqlite('minilm'), 'store', minilm);
    expectHashingBelowMiniLmAbove(hashing, model);
    // Plain RRF (both lists weigh 1) is what the weighting fixes: there, distractors sharing
    // the query's words push the paraphrase down, so the check above can fail.
    const plain = await measure(await sqlite('minilm-plain-rrf'), 'store', minilm, 1);
    expect(plain.hybrid.firstRight).toBeLessThan(plain.vector.firstRight);
  }, 120_000);

  it('PostgreSQL, in-process index', async () => {
    const hashing = await measure(await pg(), 'store', new HashingEmbedder(256));
    const model = await measure(await pg(), 'store', minilm);
    expectHashingBelowMiniLmAbove(hashing, model);
    pgInProcess = model;
  }, 120_000);

  it.skipIf(!nativePgvector())('PostgreSQL with pgvector (HNSW), the same answers as the in-process index', async () => {
    const hashing = await measure(await pg(), 'pgvector', new HashingEmbedder(256));
    const model = await measure(await pg(), 'pgvector', minilm);
    expectHashingBelowMiniLmAbove(hashing, model);
    expect(model).toEqual(pgInProcess ?? (await measure(await pg(), 'store', minilm)));
  }, 180_000);

  it('MiniLM keeps the labelled corpus\'s floors (search-quality.test.ts): the default loses nothing hashing found', async () => {
    const { service } = await contextOn(await sqlite('labelled'), { embedder: minilm });
    await service.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
    const { queries, floors } = labelled();
    const m = await rankQuality(service, queries, 'hybrid');
    console.log('labelled corpus quality (sqlite, store, all-MiniLM-L6-v2):', JSON.stringify(m));
    expect(m.recallAt5).toBeGreaterThanOrEqual(floors.recallAt5);
    expect(m.mrr).toBeGreaterThanOrEqual(floors.mrr);
  }, 120_000);
});
