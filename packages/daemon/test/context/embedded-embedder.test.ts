import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayEmbedder, LlmGateway, ModelRegistry, systemClock, type ContextService } from '@aiflock/core';
import { startPgliteWithPgvector, type TestPglite } from '../../../../testkit/pglite.js';
import { EmbeddedProvider } from '../../src/adapters/llm/embedded.js';
import { postgresBackend } from '../../src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { STORIES_MODEL } from '../llm/model-file.js';
import { contextOn, corpusDocuments, labelled } from './harness.js';

type Mode = 'hybrid' | 'keyword' | 'vector';

async function quality(service: ContextService) {
  const { queries } = labelled();
  const out = {} as Record<Mode, { recallAt5: number; mrr: number }>;
  for (const mode of ['hybrid', 'keyword', 'vector'] as const) {
    let recall = 0;
    let rr = 0;
    for (const { q, relevant } of queries) {
      const docs = [...new Set((await service.search({ q, topK: 20, mode })).hits.map((h) => h.documentId))];
      recall += relevant.filter((r) => docs.slice(0, 5).includes(r)).length / relevant.length;
      const first = docs.findIndex((d) => relevant.includes(d));
      rr += first >= 0 ? 1 / (first + 1) : 0;
    }
    out[mode] = { recallAt5: recall / queries.length, mrr: rr / queries.length };
  }
  return out;
}

/**
 * The real embedded model (stories260K through node-llama-cpp's embedding context, one
 * thread) behind the gateway's `embed` alias: the whole path a flock without Ollama uses when
 * it is told to embed with its GGUF model. The story model is a fixture, not an embedding
 * model, so its floors (queries.json storyModelFloors) are lower than the lexical embedder's.
 */
describe('context plane with the embedded model behind the gateway (node-llama-cpp, real GGUF, one thread)', () => {
  const provider = new EmbeddedProvider('embedded', { modelPath: STORIES_MODEL, threads: 1, contextSize: 2048 });
  const gw = new LlmGateway({
    providers: [provider],
    registry: new ModelRegistry([{ name: 'embed', provider: 'embedded', model: 'embedded', capabilities: ['embed'], contextWindow: 2048, pricePer1kIn: 0, pricePer1kOut: 0, fallbacks: [] }]),
    policy: { attemptsPerProvider: 1, backoff: { baseMs: 1, maxMs: 1 }, deadlineMs: 120_000, attemptTimeoutMs: 120_000, breaker: { failureThreshold: 5, cooldownMs: 1_000 }, defaultMaxTokens: 16 },
    entitlementFor: () => ({}),
    clock: systemClock,
    sleep: async () => undefined,
    random: () => 0.5,
    newId: () => 'corr',
  });
  let dir: string;
  let pglite: TestPglite;
  const stores: SqlStore[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-emb-'));
    pglite = await startPgliteWithPgvector();
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
    await pglite?.stop();
    await provider.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingests with the model\'s own vectors (name and dimension recorded) and reaches the stated floors on the in-process index and on pgvector alike', async () => {
    const { storyModelFloors } = labelled();
    const sqlite = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    stores.push(sqlite);
    const { service } = await contextOn(sqlite, { embedder: new GatewayEmbedder(gw) });
    const r = await service.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
    expect(r).toMatchObject({ model: 'embedded/stories260K', dimension: 64 });
    const chunks = await sqlite.context.chunks.list('corpus', { limit: 1000 });
    // Real model output: distinct texts give distinct unit vectors.
    expect(new Set(chunks.map((c) => c.embedding.join(','))).size).toBe(chunks.length);
    for (const c of chunks) expect(Math.hypot(...c.embedding)).toBeCloseTo(1, 4);
    const inProcess = await quality(service);
    console.log('search quality, embedded/stories260K, SQLite + in-process index:', JSON.stringify(inProcess));
    expect(inProcess.hybrid.recallAt5).toBeGreaterThanOrEqual(storyModelFloors.recallAt5);
    expect(inProcess.hybrid.mrr).toBeGreaterThanOrEqual(storyModelFloors.mrr);

    // The same export on PostgreSQL with pgvector (PGlite over the wire protocol): the vectors
    // are searched in the database, and the quality is the same.
    const lines: string[] = [];
    for await (const l of service.exportCollection('corpus')) lines.push(l);
    const pg = await SqlStore.open(await postgresBackend({ url: pglite.url, poolSize: 1, connectTimeoutMs: 5_000 }));
    stores.push(pg);
    const { service: onPg } = await contextOn(pg, { index: 'pgvector', embedder: new GatewayEmbedder(gw) });
    await onPg.importCollection(lines);
    const n = await sql<{ n: string }>`select count(*) as n from context_vectors where collection = 'corpus'`.execute(pg.db);
    expect(Number(n.rows[0]!.n)).toBe(chunks.length);
    const pgvector = await quality(onPg);
    console.log('search quality, embedded/stories260K, PostgreSQL + pgvector:', JSON.stringify(pgvector));
    expect(pgvector.hybrid.recallAt5).toBeGreaterThanOrEqual(storyModelFloors.recallAt5);
    expect(pgvector.hybrid.mrr).toBeGreaterThanOrEqual(storyModelFloors.mrr);
    expect(pgvector.hybrid.recallAt5).toBeCloseTo(inProcess.hybrid.recallAt5, 6);
    expect(pgvector.hybrid.mrr).toBeCloseTo(inProcess.hybrid.mrr, 6);
  }, 300_000);
});
