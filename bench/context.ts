/**
 * Memory and context plane: ingest throughput (chunks/s) and search latency (p50/p99) at
 * --chunks chunks, on each store and vector index: SQLite + in-process index, PostgreSQL +
 * in-process index, PostgreSQL + pgvector (native where the extension is installed, and
 * PGlite's WebAssembly build over the wire protocol). Baselines from the same run: the
 * embedder alone (ingest) and an exact dot-product scan over the same vectors in a
 * Float32Array (search).
 *
 *   npx tsx bench/context.ts [--runs 3] [--json] [--chunks 10000] [--queries 100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ContextService, HashingEmbedder, dot, systemClock } from '@aiflock/core';
import { postgresBackend } from '../packages/daemon/src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../packages/daemon/src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';
import { openVectorIndex } from '../packages/daemon/src/adapters/vector-index/open.js';
import { startPgliteWithPgvector } from '../testkit/pglite.js';
import { startPostgres } from '../testkit/postgres.js';
import { benchArgs, fmt, main, median, onCleanup, percentile, progress, table, writeResults } from './lib.js';

const opts = benchArgs({ chunks: 10_000, queries: 100 });
const CHUNKS = opts.extra['chunks']!;
const QUERIES = opts.extra['queries']!;
const BATCH = 100;

/** A deterministic pseudo-random corpus: ~80-word documents (one chunk each) over a 5,000-word vocabulary. */
function corpus(n: number, seed = 42): { docs: { id: string; text: string }[]; queries: string[] } {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const syll = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'po', 'qu', 'an', 'el', 'or', 'us'];
  const vocab = Array.from({ length: 5000 }, () => Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => syll[Math.floor(rnd() * syll.length)]).join(''));
  // Zipf-like word choice, as in real text: a few words are common, most are rare.
  const word = () => vocab[Math.floor(vocab.length * rnd() ** 3)]!;
  const docs = Array.from({ length: n }, (_, i) => ({ id: `doc-${i}`, text: Array.from({ length: 80 }, word).join(' ') }));
  const queries = Array.from({ length: QUERIES }, () => Array.from({ length: 3 + Math.floor(rnd() * 3) }, word).join(' '));
  return { docs, queries };
}

interface Result {
  ingestChunksPerSec: number;
  searchP50Ms: number;
  searchP99Ms: number;
}

async function measure(store: SqlStore, index: 'store' | 'pgvector', data: ReturnType<typeof corpus>): Promise<Result> {
  const embedder = new HashingEmbedder(256);
  const vi = await openVectorIndex(index, store, () => undefined);
  const ctx = new ContextService({ store: store.context, tasks: store.tasks, embedder, index: vi, clock: systemClock });
  const t0 = performance.now();
  for (let i = 0; i < data.docs.length; i += BATCH) {
    await ctx.ingest({ collection: 'bench', documents: data.docs.slice(i, i + BATCH).map((d) => ({ ...d, kind: 'note', source: d.id, tags: [] })), delete: [] });
    if ((i / BATCH) % 20 === 0) progress(`  ingested ${i + BATCH}/${data.docs.length}`);
  }
  const ingestS = (performance.now() - t0) / 1000;
  const chunks = await store.context.chunks.count('bench');
  await ctx.search({ q: data.queries[0]!, topK: 10, mode: 'hybrid' }); // warm the index
  const lat: number[] = [];
  for (const q of data.queries) {
    const s = performance.now();
    await ctx.search({ q, topK: 10, mode: 'hybrid' });
    lat.push(performance.now() - s);
  }
  return { ingestChunksPerSec: chunks / ingestS, searchP50Ms: percentile(lat, 50), searchP99Ms: percentile(lat, 99) };
}

async function baseline(data: ReturnType<typeof corpus>): Promise<Result> {
  const e = new HashingEmbedder(256);
  const t0 = performance.now();
  const vectors = (await e.embed(data.docs.map((d) => d.text))).map((v) => Float32Array.from(v));
  const ingestS = (performance.now() - t0) / 1000;
  const lat: number[] = [];
  for (const q of data.queries) {
    const s = performance.now();
    const qv = e.embedOne(q);
    const scores = vectors.map((v, i) => ({ i, s: dot(qv, v as unknown as number[]) }));
    scores.sort((a, b) => b.s - a.s);
    scores.slice(0, 10);
    lat.push(performance.now() - s);
  }
  return { ingestChunksPerSec: data.docs.length / ingestS, searchP50Ms: percentile(lat, 50), searchP99Ms: percentile(lat, 99) };
}

main('context', async () => {
  const data = corpus(CHUNKS);
  const dir = mkdtempSync(join(tmpdir(), 'aiflock-bench-ctx-'));
  onCleanup('temporary directory', async () => rmSync(dir, { recursive: true, force: true }));
  const pgServer = await startPostgres();
  onCleanup('PostgreSQL cluster', () => pgServer.stop());
  const probe = new pg.Client({ connectionString: pgServer.adminUrl });
  await probe.connect();
  const nativePgvector = (await probe.query(`select 1 from pg_available_extensions where name = 'vector'`)).rowCount === 1;
  await probe.end();

  type Setup = { name: string; open: () => Promise<{ store: SqlStore; close: () => Promise<void> }>; index: 'store' | 'pgvector' };
  let n = 0;
  const pgStore = async (poolSize = 4) => {
    const db = await pgServer.createDatabase('bench');
    const store = await SqlStore.open(await postgresBackend({ url: db.url, poolSize, connectTimeoutMs: 5_000 }));
    return { store, close: () => store.close() };
  };
  const setups: Setup[] = [
    { name: 'SQLite + in-process index', index: 'store', open: async () => { const store = await SqlStore.open(sqliteBackend(join(dir, `b${++n}.db`))); return { store, close: () => store.close() }; } },
    { name: 'PostgreSQL + in-process index', index: 'store', open: () => pgStore() },
    ...(nativePgvector ? [{ name: 'PostgreSQL + pgvector (native)', index: 'pgvector' as const, open: () => pgStore() }] : []),
    {
      name: 'PGlite + pgvector (WebAssembly, 1 connection)',
      index: 'pgvector',
      open: async () => {
        const server = await startPgliteWithPgvector();
        const store = await SqlStore.open(await postgresBackend({ url: server.url, poolSize: 1, connectTimeoutMs: 5_000 }));
        return { store, close: async () => { await store.close(); await server.stop(); } };
      },
    },
  ];
  if (!nativePgvector) progress('native pgvector is not installed here (postgresql-15-pgvector): measuring PGlite\'s build only');

  const rows: Record<string, Result[]> = { baseline: [] };
  for (let run = 1; run <= opts.runs; run++) {
    progress(`run ${run}/${opts.runs}: baseline (embedder alone; Float32Array scan)`);
    rows['baseline']!.push(await baseline(data));
    for (const s of setups) {
      progress(`run ${run}/${opts.runs}: ${s.name}, ${CHUNKS} chunks`);
      const { store, close } = await s.open();
      try {
        (rows[s.name] ??= []).push(await measure(store, s.index, data));
      } finally {
        await close();
      }
    }
  }
  const summary = Object.fromEntries(
    Object.entries(rows).map(([name, rs]) => [name, { ingestChunksPerSec: median(rs.map((r) => r.ingestChunksPerSec)), searchP50Ms: median(rs.map((r) => r.searchP50Ms)), searchP99Ms: median(rs.map((r) => r.searchP99Ms)) }]),
  );
  const file = await writeResults('context', { chunks: CHUNKS, queries: QUERIES, runs: opts.runs, summary, raw: rows });
  progress(`raw figures in ${file}`);
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ chunks: CHUNKS, summary }, null, 2)}\n`);
  process.stdout.write(
    `${table(
      ['setup', 'ingest chunks/s', 'search p50 ms', 'search p99 ms'],
      Object.entries(summary).map(([name, r]) => [name, fmt(r.ingestChunksPerSec), fmt(r.searchP50Ms), fmt(r.searchP99Ms)]),
    )}\n\n${CHUNKS} chunks, ${QUERIES} hybrid queries (top 10), medians of ${opts.runs} runs\n`,
  );
});
