/**
 * LLM gateway overhead: a chat completion through the daemon's OpenAI-compatible route
 * (`POST /v1/chat/completions`: validation, entitlement reserve/settle, routing, breaker,
 * the OpenAI adapter, usage event and metrics) against the same request sent straight to the
 * same local provider, measured in the same run with the official `openai` client.
 *
 * The provider is the testkit's OpenAI-wire server (a fixed answer, no model), so what is
 * left is the gateway's own cost. Everything runs in this one process on loopback: the load
 * generator, the gateway's HTTP server (the daemon's real Fastify app and gateway) and the
 * provider; the direct path shares the process the same way.
 *
 *   npx tsx bench/gateway-overhead.ts [--runs 5] [--json] [--requests 400] [--tasks 2000] [--concurrency 32]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { AuthService, systemClock } from '@aiflock/core';
import { startFakeLlm } from '../testkit/llm-wire-servers.js';
import { sqliteBackend } from '../packages/daemon/src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';
import { buildApp } from '../packages/daemon/src/http/app.js';
import type { ApiContext } from '../packages/daemon/src/http/context.js';
import { LlmConfigSchema } from '../packages/daemon/src/llm/config.js';
import { setupLlm } from '../packages/daemon/src/llm/setup.js';
import { createLogger, logFn } from '../packages/daemon/src/logger.js';
import { createMetrics } from '../packages/daemon/src/metrics.js';
import { benchArgs, fmt, fmtSpread, main, median, onCleanup, percentile, progress, spread, table, writeResults } from './lib.js';
import { testHttpOptions } from '../testkit/http-options.js';

const opts = benchArgs({ requests: 400, tasks: 2000, concurrency: 32 });
const REQUESTS = opts.extra['requests']!;
const TASKS = opts.extra['tasks']!;
const CONCURRENCY = opts.extra['concurrency']!;
const WARMUP = 100;

const body = { model: 'default', messages: [{ role: 'user' as const, content: 'Say hello.' }], max_tokens: 16 };

async function latencies(client: OpenAI, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await client.chat.completions.create(body);
    out.push(performance.now() - t);
    if (!r.choices[0]?.message.content) throw new Error('empty answer');
  }
  return out;
}

async function throughput(client: OpenAI, n: number, concurrency: number): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) await client.chat.completions.create(body);
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

main('gateway-overhead', async () => {
  progress(`gateway overhead: ${opts.runs} runs × ${REQUESTS} sequential requests, then ${TASKS} with ${CONCURRENCY} in flight`);
  const provider = await startFakeLlm('openai', { model: 'bench-model' });
  onCleanup('provider', () => provider.close());
  provider.setDefault({ kind: 'reply', text: 'Hello there, friend.', usage: { in: 5, out: 4 } });

  const dir = await mkdtemp(join(tmpdir(), 'aiflock-bench-gw-'));
  onCleanup('data dir', () => rm(dir, { recursive: true, force: true }));
  const store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  onCleanup('store', () => store.close());
  const logger = createLogger('error');
  const metrics = createMetrics(store);
  const llm = await setupLlm(
    LlmConfigSchema.parse({
      providers: { local: { kind: 'openai', url: provider.url } },
      models: { default: { provider: 'local', model: 'bench-model', pricePer1kIn: 0.1, pricePer1kOut: 0.2 } },
      // A real entitlement, so reserve/settle is part of what is measured.
      entitlements: { default: { requestsPerMinute: 10_000_000, tokensPerHour: 1_000_000_000, concurrent: 1000 } },
    }),
    { clock: systemClock, log: logFn(logger), metrics: metrics.llm },
  );
  // Behind the real auth layer: the client's API key is a token with llm:invoke, so the
  // token lookup is part of the measured overhead.
  const auth = new AuthService({ store, clock: systemClock, sessionTtlMs: 3_600_000 });
  const token = (await auth.createToken({ name: 'bench', scopes: ['llm:invoke'] })).token;
  const { app } = buildApp({ store, auth, llm: { gateway: llm.gateway, detail: llm.detail } } as unknown as ApiContext, logger, metrics, testHttpOptions());
  await app.listen({ host: '127.0.0.1', port: 0 });
  onCleanup('gateway', () => app.close());
  const addr = app.server.address();
  const gatewayUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/v1`;

  const direct = new OpenAI({ baseURL: provider.url, apiKey: 'x', maxRetries: 0 });
  const viaGateway = new OpenAI({ baseURL: gatewayUrl, apiKey: token, maxRetries: 0 });
  await latencies(direct, WARMUP);
  await latencies(viaGateway, WARMUP);

  const runs: Array<{ direct: { p50: number; p99: number; rps: number }; gateway: { p50: number; p99: number; rps: number } }> = [];
  for (let run = 1; run <= opts.runs; run++) {
    // Alternate the order so neither path always runs on a warmer process.
    const order = run % 2 ? (['direct', 'gateway'] as const) : (['gateway', 'direct'] as const);
    const r = {} as (typeof runs)[number];
    for (const which of order) {
      const client = which === 'direct' ? direct : viaGateway;
      const lat = await latencies(client, REQUESTS);
      const rps = await throughput(client, TASKS, CONCURRENCY);
      r[which] = { p50: percentile(lat, 50), p99: percentile(lat, 99), rps };
    }
    runs.push(r);
    progress(`run ${run}: direct p50 ${fmt(r.direct.p50)} ms, gateway p50 ${fmt(r.gateway.p50)} ms; ${fmt(r.gateway.rps)} req/s through the gateway`);
  }

  const pick = (f: (x: (typeof runs)[number]) => number) => spread(runs.map(f));
  const summary = {
    direct: { p50: pick((r) => r.direct.p50), p99: pick((r) => r.direct.p99), rps: pick((r) => r.direct.rps) },
    gateway: { p50: pick((r) => r.gateway.p50), p99: pick((r) => r.gateway.p99), rps: pick((r) => r.gateway.rps) },
    overheadP50Ms: pick((r) => r.gateway.p50 - r.direct.p50),
    overheadP99Ms: pick((r) => r.gateway.p99 - r.direct.p99),
    ratioP50: median(runs.map((r) => r.gateway.p50 / r.direct.p50)),
  };
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
  const file = await writeResults('gateway-overhead', { machine, options: { runs: opts.runs, REQUESTS, TASKS, CONCURRENCY }, runs, summary });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ machine, summary }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    [
      `## LLM gateway overhead (${machine.cpus} × ${machine.model}, Node ${machine.node})`,
      '',
      `Medians over ${opts.runs} runs (min–max). Latency: ${REQUESTS} sequential chat completions per run; throughput: ${TASKS} with ${CONCURRENCY} in flight.`,
      '',
      table(
        ['path', 'p50 ms', 'p99 ms', 'req/s'],
        [
          ['direct to provider', fmtSpread(summary.direct.p50), fmtSpread(summary.direct.p99), fmtSpread(summary.direct.rps)],
          ['through the gateway', fmtSpread(summary.gateway.p50), fmtSpread(summary.gateway.p99), fmtSpread(summary.gateway.rps)],
        ],
      ),
      '',
      `Gateway overhead: p50 +${fmtSpread(summary.overheadP50Ms)} ms, p99 +${fmtSpread(summary.overheadP99Ms)} ms; p50 ratio gateway/direct ${fmt(summary.ratioP50)}×.`,
      `Raw figures: ${file}`,
      '',
    ].join('\n'),
  );
});
