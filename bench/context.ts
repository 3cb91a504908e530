/**
 * Memory and context plane: ingest throughput (chunks/s) and search latency (p50/p99) at
 * --chunks chunks, on each store and vector index: SQLite + in-process index, PostgreSQL +
 * in-process index, PostgreSQL + pgvector (native where the extension is installed, and
 * PGlite's WebAssembly build over the wire protocol). Baselines from the same run: the
 * embedder alone (ingest) and an exact dot-product scan over the same vectors in a
 * Float32Array (search).
 *
 * The embedders side by side: the default MiniLM (all-MiniLM-L6-v2 in its worker thread) next
 * to the hashing embedder on SQLite + in-process index at --minilm-chunks chunks (a model
 * costs tens of milliseconds per chunk, so fewer), with --minilm-queries hybrid queries, the
 * main thread's event-loop utilisation during ingest (low: the forward passes run in the
 * worker), and MiniLM's cost as a multiple of hashing's within each run.
 *
 * Every figure is the median over --runs runs (at least 3), with the minimum and maximum;
 * ratios to the baseline are taken within each run (so load from other work on the machine
 * cancels out) and their median reported.
 *
 *   npx tsx bench/context.ts [--runs 5] [--json] [--chunks 10000] [--queries 100] [--minilm-chunks 200] [--minilm-queries 30] [--no-pglite] [--no-exact] [--no-minilm]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ContextService, HashingEmbedder, dot, systemClock, type Embedder } from '@aiflock/core';
import { MiniLmEmbedder } from '../packages/daemon/src/adapters/embedding/minilm-embedder.js';
import { postgresBackend } from '../packages/daemon/src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../packages/daemon/src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';
import { openVectorIndex } from '../packages/daemon/src/adapters/vector-index/open.js';
import { startPgliteWithPgvector } from '../testkit/pglite.js';
import { startPostgres } from '../testkit/postgres.js';
import { benchArgs, fmt, fmtSpread, main, onCleanup, percentile, progress, spread, table, writeResults } from './lib.js';

const opts = benchArgs({ chunks: 10_000, queries: 100, 'minilm-chunks': 200, 'minilm-queries': 30 }, ['no-pglite', 'no-exact', 'no-minilm']);
if (opts.runs < 3) {
  process.stderr.write(`--runs ${opts.runs}: this benchmark reports medians and per-run ratios, which need at least 3 runs\n`);
  process.exit(2);
}
const CHUNKS = opts.extra['chunks']!;
const QUERIES = opts.extra['queries']!;
const MINILM_CHUNKS = opts.extra['minilm-chunks']!;
const MINILM_QUERIES = opts.extra['minilm-queries']!;
const BATCH = 100;

/** A deterministic pseudo-random corpus: ~80-word documents (one chunk each) over a 5,000-word vocabulary. */
function corpus(n: number, nQueries = QUERIES, seed = 42): { docs: { id: string; text: string }[]; queries: string[] } {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const syll = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'po', 'qu', 'an', 'el', 'or', 'us'];
  const vocab = Array.from({ length: 5000 }, () => Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => syll[Math.floor(rnd() * syll.length)]).join(''));
  // Zipf-like word choice, as in real text: a few words are common, most are rare.
  const word = () => vocab[Math.floor(vocab.length * rnd() ** 3)]!;
  const docs = Array.from({ length: n }, (_, i) => ({ id: `doc-${i}`, text: Array.from({ length: 80 }, word).join(' ') }));
  const queries = Array.from({ length: nQueries }, () => Array.from({ length: 3 + Math.floor(rnd() * 3) }, word).join(' '));
  return { docs, queries };
}

interface Result {
  ingestChunksPerSec: number;
  searchP50Ms: number;
  searchP99Ms: number;
  /** The main thread's event-loop utilisation during ingest (0..1). */
  ingestEventLoop?: number;
}

async function measure(store: SqlStore, index: 'store' | 'pgvector', ann: 'hnsw' | 'exact', data: ReturnType<typeof corpus>, embedder: Embedder = new HashingEmbedder(256)): Promise<Result> {
  const vi = await openVectorIndex(index, store, () => undefined, { ann, efSearch: 100 });
  const ctx = new ContextService({ store: store.context, tasks: store.tasks, embedder, index: vi, clock: systemClock });
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  for (let i = 0; i < data.docs.length; i += BATCH) {
    await ctx.ingest({ collection: 'bench', documents: data.docs.slice(i, i + BATCH).map((d) => ({ ...d, kind: 'note', source: d.id, tags: [] })), delete: [] });
    if ((i / BATCH) % 20 === 0) progress(`  ingested ${i + BATCH}/${data.docs.length}`);
  }
  const ingestS = (performance.now() - t0) / 1000;
  const ingestEventLoop = performance.eventLoopUtilization(elu0).utilization;
  const chunks = await store.context.chunks.count('bench');
  await ctx.search({ q: data.queries[0]!, topK: 10, mode: 'hybrid' }); // warm the index
  const lat: number[] = [];
  for (const q of data.queries) {
    const s = performance.now();
    await ctx.search({ q, topK: 10, mode: 'hybrid' });
    lat.push(performance.now() - s);
  }
  return { ingestChunksPerSec: chunks / ingestS, searchP50Ms: percentile(lat, 50), searchP99Ms: percentile(lat, 99), ingestEventLoop };
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

  type Setup = { name: string; open: () => Promise<{ store: SqlStore; close: () => Promise<void> }>; index: 'store' | 'pgvector'; ann?: 'exact' };
  let n = 0;
  const pgStore = async (poolSize = 4) => {
    const db = await pgServer.createDatabase('bench');
    const store = await SqlStore.open(await postgresBackend({ url: db.url, poolSize, connectTimeoutMs: 5_000 }));
    return { store, close: () => store.close() };
  };
  const setups: Setup[] = [
    { name: 'SQLite + in-process index', index: 'store', open: async () => { const store = await SqlStore.open(sqliteBackend(join(dir, `b${++n}.db`))); return { store, close: () => store.close() }; } },
    { name: 'PostgreSQL + in-process index', index: 'store', open: () => pgStore() },
    ...(nativePgvector ? [{ name: 'PostgreSQL + pgvector (native, HNSW)', index: 'pgvector' as const, open: () => pgStore() }] : []),
    ...(nativePgvector && !opts.flags['no-exact'] ? [{ name: 'PostgreSQL + pgvector (native, exact)', index: 'pgvector' as const, ann: 'exact' as const, open: () => pgStore() }] : []),
    ...(opts.flags['no-pglite'] ? [] : [{
      name: 'PGlite + pgvector (WebAssembly, 1 connection, HNSW)',
      index: 'pgvector' as const,
      open: async () => {
        const server = await startPgliteWithPgvector();
        const store = await SqlStore.open(await postgresBackend({ url: server.url, poolSize: 1, connectTimeoutMs: 5_000 }));
        return { store, close: async () => { await store.close(); await server.stop(); } };
      },
    }]),
  ];
  if (!nativePgvector) progress('native pgvector is not installed here (postgresql-15-pgvector): measuring PGlite\'s build only');

  // On SIGINT/SIGTERM the store open at that moment is closed first (cleanups run last
  // registered first), so its connections do not fail when the cluster stops under them.
  let openStore: (() => Promise<void>) | null = null;
  onCleanup('open store', async () => openStore?.());
  const rows: Record<string, Result[]> = { baseline: [] };
  // The embedders side by side, on one store kind: the model is loaded once (its load time
  // reported), then each run ingests and searches the same smaller corpus with both.
  const small = corpus(MINILM_CHUNKS, MINILM_QUERIES, 7);
  const embedders: Record<'hashing' | 'minilm', Result[]> = { hashing: [], minilm: [] };
  let minilm: MiniLmEmbedder | null = null;
  let minilmLoadMs = 0;
  if (!opts.flags['no-minilm']) {
    progress('loading MiniLM in its worker thread');
    minilm = new MiniLmEmbedder();
    onCleanup('MiniLM worker', () => minilm!.close());
    const t = performance.now();
    await minilm.ready();
    minilmLoadMs = performance.now() - t;
  }
  for (let run = 1; run <= opts.runs; run++) {
    if (minilm) {
      for (const [name, embedder] of [['hashing', new HashingEmbedder(256)], ['minilm', minilm]] as const) {
        progress(`run ${run}/${opts.runs}: ${name} embedder, SQLite + in-process index, ${MINILM_CHUNKS} chunks`);
        const store = await SqlStore.open(sqliteBackend(join(dir, `e${++n}.db`)));
        try {
          embedders[name].push(await measure(store, 'store', 'hnsw', small, embedder));
        } finally {
          await store.close();
        }
      }
    }
    progress(`run ${run}/${opts.runs}: baseline (embedder alone; Float32Array scan)`);
    rows['baseline']!.push(await baseline(data));
    for (const s of setups) {
      progress(`run ${run}/${opts.runs}: ${s.name}, ${CHUNKS} chunks`);
      const { store, close } = await s.open();
      openStore = close;
      try {
        (rows[s.name] ??= []).push(await measure(store, s.index, s.ann ?? 'hnsw', data));
      } finally {
        openStore = null;
        await close();
      }
    }
  }
  // Ratios within each run: ingest as a fraction of the embedder alone's throughput, search
  // as a multiple of the plain scan's latency.
  const ratios = (name: string) =>
    rows[name]!.map((r, i) => {
      const b = rows['baseline']![i]!;
      return { ingest: r.ingestChunksPerSec / b.ingestChunksPerSec, p50: r.searchP50Ms / b.searchP50Ms, p99: r.searchP99Ms / b.searchP99Ms };
    });
  const summary = Object.fromEntries(
    Object.entries(rows).map(([name, rs]) => {
      const rr = ratios(name);
      return [
        name,
        {
          ingestChunksPerSec: spread(rs.map((r) => r.ingestChunksPerSec)),
          searchP50Ms: spread(rs.map((r) => r.searchP50Ms)),
          searchP99Ms: spread(rs.map((r) => r.searchP99Ms)),
          vsBaseline: { ingest: spread(rr.map((r) => r.ingest)), searchP50: spread(rr.map((r) => r.p50)), searchP99: spread(rr.map((r) => r.p99)) },
        },
      ];
    }),
  );
  // MiniLM as a multiple of hashing within each run: ingest throughput (a fraction) and search latency.
  const embedderStats = (name: 'hashing' | 'minilm') => ({
    ingestChunksPerSec: spread(embedders[name].map((r) => r.ingestChunksPerSec)),
    searchP50Ms: spread(embedders[name].map((r) => r.searchP50Ms)),
    searchP99Ms: spread(embedders[name].map((r) => r.searchP99Ms)),
    ingestEventLoop: spread(embedders[name].map((r) => r.ingestEventLoop!)),
  });
  const byEmbedder = minilm
    ? {
        chunks: MINILM_CHUNKS,
        queries: MINILM_QUERIES,
        modelLoadMs: minilmLoadMs,
        hashing: embedderStats('hashing'),
        minilm: embedderStats('minilm'),
        minilmVsHashing: {
          ingest: spread(embedders.minilm.map((r, i) => r.ingestChunksPerSec / embedders.hashing[i]!.ingestChunksPerSec)),
          searchP50: spread(embedders.minilm.map((r, i) => r.searchP50Ms / embedders.hashing[i]!.searchP50Ms)),
        },
      }
    : null;
  const file = await writeResults('context', { chunks: CHUNKS, queries: QUERIES, runs: opts.runs, summary, embedders: byEmbedder, raw: { ...rows, embedders } });
  progress(`raw figures in ${file}`);
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ chunks: CHUNKS, runs: opts.runs, summary, embedders: byEmbedder }, null, 2)}\n`);
  const x = (s: { median: number }) => `${fmt(s.median)}×`;
  process.stdout.write(
    `${table(
      ['setup', 'ingest chunks/s', 'search p50 ms', 'search p99 ms', 'ingest vs baseline', 'p50 vs baseline', 'p99 vs baseline'],
      Object.entries(summary).map(([name, r]) => [
        name,
        fmtSpread(r.ingestChunksPerSec),
        fmtSpread(r.searchP50Ms),
        fmtSpread(r.searchP99Ms),
        name === 'baseline' ? '1×' : x(r.vsBaseline.ingest),
        name === 'baseline' ? '1×' : x(r.vsBaseline.searchP50),
        name === 'baseline' ? '1×' : x(r.vsBaseline.searchP99),
      ]),
    )}\n\n${CHUNKS} chunks, ${QUERIES} hybrid queries (top 10); median (min–max) of ${opts.runs} runs; ratios are medians of per-run ratios\n`,
  );
  if (!byEmbedder) return;
  const e = byEmbedder;
  process.stdout.write(
    `\n${table(
      ['embedder (SQLite + in-process index)', 'ingest chunks/s', 'search p50 ms', 'search p99 ms', 'event loop busy during ingest', 'ingest vs hashing', 'p50 vs hashing'],
      (['hashing', 'minilm'] as const).map((name) => [
        name === 'minilm' ? 'MiniLM (all-MiniLM-L6-v2, worker thread)' : 'hashing (hashing-v1-256)',
        fmtSpread(e[name].ingestChunksPerSec),
        fmtSpread(e[name].searchP50Ms),
        fmtSpread(e[name].searchP99Ms),
        `${fmt(e[name].ingestEventLoop.median * 100)}%`,
        name === 'hashing' ? '1×' : x(byEmbedder.minilmVsHashing.ingest),
        name === 'hashing' ? '1×' : x(byEmbedder.minilmVsHashing.searchP50),
      ]),
    )}\n\n${MINILM_CHUNKS} chunks, ${MINILM_QUERIES} hybrid queries (top 10); MiniLM loaded once in ${fmt(minilmLoadMs)} ms; median (min–max) of ${opts.runs} runs\n`,
  );
});
