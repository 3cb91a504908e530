/**
 * WebSocket fan-out of world deltas to 100 watchers: the time from a delta leaving the engine
 * to each client having parsed it (p50, p99), through the daemon's real HTTP app and
 * `WS /v1/ws/world` (auth, per-watcher feed with its backlog check). Baseline in the same
 * run: a bare `ws` server broadcasting the very same delta texts to 100 clients. 100
 * villagers walk all the time, so every tick has a delta; ticks are driven at --tick-ms.
 *
 *   npx tsx bench/world-fanout.ts [--runs 3] [--json] [--clients 100] [--ticks 100] [--tick-ms 50]
 */
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import type { WorldDelta } from '@aiflock/protocol';
import { startWorldApi } from '../packages/daemon/test/world/harness.js';
import { benchArgs, fmt, main, median, onCleanup, percentile, progress, table, writeResults } from './lib.js';

const opts = benchArgs({ clients: 100, ticks: 100, 'tick-ms': 50 });
const CLIENTS = opts.extra['clients']!;
const TICKS = opts.extra['ticks']!;
const TICK_MS = opts.extra['tick-ms']!;
const VILLAGERS = 100;

interface RunResult {
  p50Ms: number;
  p99Ms: number;
  received: number;
}

/** Opens `n` clients on `url`; each records, per message, now − the send time of its seq. */
async function clients(url: string, n: number, headers: Record<string, string>, sentAt: Map<number, number>, latencies: number[]): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(url, { headers });
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; delta?: WorldDelta };
      if (m.type !== 'delta') return;
      const t0 = sentAt.get(m.delta!.seq);
      if (t0 !== undefined) latencies.push(performance.now() - t0);
    });
    await once(ws, 'open');
    out.push(ws);
  }
  return out;
}

async function drive(tick: () => void): Promise<void> {
  for (let t = 0; t < TICKS; t++) {
    tick();
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await new Promise((r) => setTimeout(r, 500)); // the last deltas in flight
}

async function worldRun(texts: string[]): Promise<RunResult> {
  const api = await startWorldApi({}, { start: false });
  try {
    const host = api.world.api.host;
    const landmarks = host.engine.map.landmarks.map((l) => l.name);
    const joined = Array.from({ length: VILLAGERS }, (_, i) => host.submit({ kind: 'join', name: `v${i}`, policy: 'rules', model: null, home: landmarks[i % landmarks.length]!, status: 'active' }));
    host.tick();
    await Promise.all(joined);
    const sentAt = new Map<number, number>();
    // Subscribed before any watcher, so it runs first: the clock starts as the delta leaves the engine.
    host.subscribe((d) => {
      sentAt.set(d.seq, performance.now());
      texts.push(JSON.stringify({ type: 'delta', delta: d }));
    });
    const latencies: number[] = [];
    const ws = await clients(`${api.url.replace('http', 'ws')}/v1/ws/world`, CLIENTS, { authorization: `Bearer ${api.adminToken}` }, sentAt, latencies);
    let k = 0;
    await drive(() => {
      // Keep everyone walking: whoever stands still sets off for the next landmark.
      for (let i = 0; i < VILLAGERS; i++) {
        const name = `v${i}`;
        if (host.engine.villager(name)!.goal === null) void host.submit({ kind: 'move', name, move: { to: landmarks[k++ % landmarks.length]! } }).catch(() => undefined);
      }
      host.tick();
    });
    for (const c of ws) c.close();
    return { p50Ms: median(latencies), p99Ms: percentile(latencies, 99), received: latencies.length };
  } finally {
    await api.close();
  }
}

async function baselineRun(texts: string[]): Promise<RunResult> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  onCleanup('baseline ws server', () => new Promise((r) => wss.close(r)));
  const port = (wss.address() as { port: number }).port;
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  const ws = await clients(`ws://127.0.0.1:${port}`, CLIENTS, {}, sentAt, latencies);
  let i = 0;
  await drive(() => {
    const text = texts[i++ % texts.length]!;
    const seq = i; // a fresh seq per broadcast, whatever the recorded text says
    const body = text.replace(/"seq":\d+/, `"seq":${seq}`);
    sentAt.set(seq, performance.now());
    for (const c of wss.clients) c.send(body);
  });
  for (const c of ws) c.close();
  await new Promise((r) => wss.close(r));
  return { p50Ms: median(latencies), p99Ms: percentile(latencies, 99), received: latencies.length };
}

main('world-fanout', async () => {
  const rows: { world: RunResult[]; baseline: RunResult[] } = { world: [], baseline: [] };
  for (let run = 1; run <= opts.runs; run++) {
    const texts: string[] = [];
    progress(`run ${run}/${opts.runs}: ${CLIENTS} watchers of WS /v1/ws/world, ${VILLAGERS} walking villagers, ${TICKS} ticks`);
    rows.world.push(await worldRun(texts));
    progress(`run ${run}/${opts.runs}: bare ws broadcast of the same ${texts.length} deltas to ${CLIENTS} clients`);
    rows.baseline.push(await baselineRun(texts));
  }
  const sum = (rs: RunResult[]) => ({ p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)), received: median(rs.map((r) => r.received)) });
  const summary = { world: sum(rows.world), baseline: sum(rows.baseline) };
  const file = await writeResults('world-fanout', { clients: CLIENTS, ticks: TICKS, tickMs: TICK_MS, runs: opts.runs, summary, raw: rows });
  progress(`raw figures in ${file}`);
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ clients: CLIENTS, ticks: TICKS, summary }, null, 2)}\n`);
  process.stdout.write(
    `${table(
      ['', 'delivery p50 (ms)', 'delivery p99 (ms)', 'deltas received'],
      [
        ['WS /v1/ws/world', fmt(summary.world.p50Ms), fmt(summary.world.p99Ms), fmt(summary.world.received)],
        ['bare ws broadcast (baseline)', fmt(summary.baseline.p50Ms), fmt(summary.baseline.p99Ms), fmt(summary.baseline.received)],
        ['ratio', fmt(summary.world.p50Ms / summary.baseline.p50Ms), fmt(summary.world.p99Ms / summary.baseline.p99Ms), ''],
      ],
    )}\n\nMedians of ${opts.runs} runs; ${CLIENTS} clients, ${TICKS} ticks every ${TICK_MS} ms.\n`,
  );
});
