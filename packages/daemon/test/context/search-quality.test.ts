import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPglite, startPgliteWithPgvector } from '../../../../testkit/pglite.js';
import { nativePgvector, startPostgres, type TestPostgres } from '../../../../testkit/postgres.js';
import { postgresBackend } from '../../src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { contextOn, corpusDocuments, labelled } from './harness.js';

/**
 * Search quality on the labelled corpus (test/fixtures/context-corpus): hybrid search must
 * reach the floors stated in queries.json on every vector index. The embedder is the
 * lexical hashing fallback, so the floors are about keyword-plus-n-gram retrieval.
 */
async function measure(store: SqlStore, index: 'store' | 'pgvector') {
  const { service } = await contextOn(store, { index });
  await service.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
  const { queries, floors } = labelled();
  const perMode: Record<string, { recallAt5: number; mrr: number }> = {};
  for (const mode of ['hybrid', 'keyword', 'vector'] as const) {
    let recall = 0;
    let rr = 0;
    for (const { q, relevant } of queries) {
      const res = await service.search({ q, topK: 20, mode });
      const docs = [...new Set(res.hits.map((h) => h.documentId))];
      recall += relevant.filter((r) => docs.slice(0, 5).includes(r)).length / relevant.length;
      const first = docs.findIndex((d) => relevant.includes(d));
      rr += first >= 0 ? 1 / (first + 1) : 0;
    }
    perMode[mode] = { recallAt5: recall / queries.length, mrr: rr / queries.length };
  }
  console.log(`search quality (${store.kind}, ${index}):`, JSON.stringify(perMode));
  return { perMode, floors };
}

describe('search quality on the labelled corpus', () => {
  let dir: string;
  let pgServer: TestPostgres;
  const stores: SqlStore[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-ctx-'));
    pgServer = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
    await pgServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const pgStore = async () => {
    const db = await pgServer.createDatabase('quality');
    const s = await SqlStore.open(await postgresBackend({ url: db.url, poolSize: 4, connectTimeoutMs: 5_000 }));
    stores.push(s);
    return s;
  };

  it('in-process index on SQLite reaches the floors', async () => {
    const s = await SqlStore.open(sqliteBackend(join(dir, 'q.db')));
    stores.push(s);
    const { perMode, floors } = await measure(s, 'store');
    expect(perMode['hybrid']!.recallAt5).toBeGreaterThanOrEqual(floors.recallAt5);
    expect(perMode['hybrid']!.mrr).toBeGreaterThanOrEqual(floors.mrr);
  });

  it('in-process index on PostgreSQL gives the same quality', async () => {
    const { perMode, floors } = await measure(await pgStore(), 'store');
    expect(perMode['hybrid']!.recallAt5).toBeGreaterThanOrEqual(floors.recallAt5);
    expect(perMode['hybrid']!.mrr).toBeGreaterThanOrEqual(floors.mrr);
  });

  it('pgvector configured on a server without the extension is a clear error at startup', async () => {
    // PGlite without pgvector: a real server that lacks the extension whatever the host has.
    const server = await startPglite({ pgvector: false });
    try {
      const s = await SqlStore.open(await postgresBackend({ url: server.url, poolSize: 1, connectTimeoutMs: 5_000 }));
      try {
        await expect(contextOn(s, { index: 'pgvector' })).rejects.toThrow(/cannot enable the "vector" extension .*install pgvector on the PostgreSQL server \(Debian\/Ubuntu: postgresql-<major>-pgvector\) or set context.vectorIndex to store/);
      } finally {
        await s.close();
      }
    } finally {
      await server.stop();
    }
  }, 60_000);

  it.skipIf(!nativePgvector())('native pgvector index reaches the same floors, with the same answers as the in-process index', async () => {
    const inProcess = await measure(await pgStore(), 'store');
    const a = await measure(await pgStore(), 'pgvector');
    expect(a.perMode['hybrid']!.recallAt5).toBeGreaterThanOrEqual(a.floors.recallAt5);
    expect(a.perMode['hybrid']!.mrr).toBeGreaterThanOrEqual(a.floors.mrr);
    expect(a.perMode).toEqual(inProcess.perMode);
  });

  it('pgvector index (PGlite: PostgreSQL and pgvector as WebAssembly, over the wire protocol) reaches the floors, like the in-process index it replaces by configuration', async () => {
    const server = await startPgliteWithPgvector();
    try {
      const s = await SqlStore.open(await postgresBackend({ url: server.url, poolSize: 1, connectTimeoutMs: 5_000 }));
      try {
        // Ingested with the in-process index first; then the same store with pgvector, by
        // configuration alone: opening it fills the index from the stored chunk vectors.
        const before = await measure(s, 'store');
        const a = await measure(s, 'pgvector');
        expect(a.perMode['hybrid']!.recallAt5).toBeGreaterThanOrEqual(a.floors.recallAt5);
        expect(a.perMode['hybrid']!.mrr).toBeGreaterThanOrEqual(a.floors.mrr);
        expect(a.perMode).toEqual(before.perMode);
        // The vectors were searched in the database: the index table holds every chunk.
        const n = await sql<{ n: string }>`select count(*) as n from context_vectors`.execute(s.db);
        expect(Number(n.rows[0]!.n)).toBe(await s.context.chunks.count('corpus'));
      } finally {
        await s.close();
      }
    } finally {
      await server.stop();
    }
  }, 120_000);
});
