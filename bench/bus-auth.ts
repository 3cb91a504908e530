/**
 * What per-instance bus credentials cost, and how fast revocation bites, measured in one run:
 *  - echo task round trip (p50/p99) and throughput through a flock with bus auth on (JWT
 *    credentials and permissions, the default) against the same flow with auth off, and
 *    against raw NATS request/reply on the same server;
 *  - revocation latency: from the control plane's revoke call to the instance's connection
 *    being closed by nats-server (the design asks for under a second).
 *
 *   npx tsx bench/bus-auth.ts [--runs 3] [--json] [--latency-tasks 150] [--tasks 400] [--concurrency 32] [--revocations 20]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { connect, credsAuthenticator, JSONCodec } from 'nats';
import type { TaskView } from '@aiflock/protocol';
import { JwtBusCredentials } from '../packages/daemon/src/adapters/nats/jwt-credentials.js';
import { NatsTrust } from '../packages/daemon/src/adapters/nats/trust.js';
import { startNatsServer } from '../testkit/nats-server.js';
import {
  TaskResults,
  benchArgs,
  deployEcho,
  describeMachine,
  fmt,
  fmtSpread,
  machine,
  main,
  percentile,
  progress,
  spread,
  startFlock,
  table,
  until,
  writeResults,
  type BenchFlock,
} from './lib.js';

const opts = benchArgs({ 'latency-tasks': 150, tasks: 400, concurrency: 32, revocations: 20, replicas: 3 });
const LATENCY_TASKS = opts.extra['latency-tasks']!;
const TASKS = opts.extra['tasks']!;
const CONCURRENCY = opts.extra['concurrency']!;
const REVOCATIONS = opts.extra['revocations']!;
const REPLICAS = opts.extra['replicas']!;
const AGENT = 'bench-echo';
const codec = JSONCodec();

interface Flow {
  p50: number;
  p99: number;
  perSec: number;
}

main('bus-auth', async () => {
  const m = await machine(new Dockerode());
  const revocation = await revocationLatency();
  progress(`revocation: p50 ${fmt(revocation.p50)} ms, p99 ${fmt(revocation.p99)} ms over ${REVOCATIONS}`);

  const results: Record<'jwt' | 'none', { flock: Flow; raw: Flow }[]> = { jwt: [], none: [] };
  for (const mode of ['jwt', 'none'] as const) {
    const f = await startFlock({ busAuth: mode });
    await deployEcho(f, AGENT, REPLICAS);
    await until(`${REPLICAS} ready replicas`, async () => (await f.api<{ replicas: { ready: number } }>('GET', `/v1/agents/${AGENT}`)).replicas.ready === REPLICAS);
    const seen = await TaskResults.watch(f.nc);
    const task = async (input: unknown) => {
      const t = await f.api<TaskView>('POST', '/v1/tasks', { agent: AGENT, input });
      await seen.wait(t.id);
    };
    const sub = f.nc.subscribe('bench.raw', { callback: (_e, msg) => msg.respond(msg.data) });
    const raw = async (i: number) => void (await f.nc.request('bench.raw', codec.encode({ i })));
    for (let i = 0; i < 20; i++) await task({ warmup: i });
    for (let run = 1; run <= opts.runs; run++) {
      const flow = await measure(task);
      const rawFlow = await measure(raw);
      progress(`auth ${mode}, run ${run}/${opts.runs}: flock p50 ${fmt(flow.p50)} ms, p99 ${fmt(flow.p99)} ms, ${fmt(flow.perSec)} tasks/s; raw p50 ${fmt(rawFlow.p50)} ms, ${fmt(rawFlow.perSec)} req/s`);
      results[mode].push({ flock: flow, raw: rawFlow });
    }
    sub.unsubscribe();
    await stop(f);
  }

  const s = (mode: 'jwt' | 'none', pick: (r: { flock: Flow; raw: Flow }) => number) => spread(results[mode].map(pick));
  const summary = {
    machine: m,
    revocationMs: revocation,
    authOn: { p50: s('jwt', (r) => r.flock.p50), p99: s('jwt', (r) => r.flock.p99), perSec: s('jwt', (r) => r.flock.perSec) },
    authOff: { p50: s('none', (r) => r.flock.p50), p99: s('none', (r) => r.flock.p99), perSec: s('none', (r) => r.flock.perSec) },
    raw: { p50: s('jwt', (r) => r.raw.p50), p99: s('jwt', (r) => r.raw.p99), perSec: s('jwt', (r) => r.raw.perSec) },
  };
  const ratio = (a: number, b: number) => `${fmt(a / b)}×`;
  const out = [
    `# Bus auth: per-instance JWT credentials on vs off, and raw NATS (${describeMachine(m)})`,
    '',
    table(
      ['flow', 'p50 ms', 'p99 ms', 'per second', 'p50 vs auth off', 'throughput vs auth off'],
      [
        ['flock, auth on', fmtSpread(summary.authOn.p50), fmtSpread(summary.authOn.p99), fmtSpread(summary.authOn.perSec), ratio(summary.authOn.p50.median, summary.authOff.p50.median), ratio(summary.authOn.perSec.median, summary.authOff.perSec.median)],
        ['flock, auth off', fmtSpread(summary.authOff.p50), fmtSpread(summary.authOff.p99), fmtSpread(summary.authOff.perSec), '1×', '1×'],
        ['raw NATS request/reply', fmtSpread(summary.raw.p50), fmtSpread(summary.raw.p99), fmtSpread(summary.raw.perSec), '', ''],
      ],
    ),
    '',
    `Revocation (revoke call → connection closed by the server): p50 ${fmt(revocation.p50)} ms, p99 ${fmt(revocation.p99)} ms, max ${fmt(revocation.max)} ms over ${REVOCATIONS}.`,
  ].join('\n');
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`${out}\n`);
  progress(`results written to ${await writeResults('bus-auth', summary)}`);
});

async function measure(call: (i: number) => Promise<void>): Promise<Flow> {
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_TASKS; i++) {
    const t0 = performance.now();
    await call(i);
    lat.push(performance.now() - t0);
  }
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < TASKS) await call(next++);
    }),
  );
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), perSec: TASKS / ((performance.now() - t0) / 1000) };
}

async function stop(f: BenchFlock): Promise<void> {
  await f.nc.close();
  await f.testFlock.cleanup();
}

/** A real nats-server trusting a fresh flock trust chain; an instance connects, we revoke it. */
async function revocationLatency(): Promise<{ p50: number; p99: number; max: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'aiflock-bench-revoke-'));
  const trust = await NatsTrust.open(join(dir, 'trust.json'));
  const server = await startNatsServer({ config: await trust.serverConfig(join(dir, 'resolver')) });
  const creds = await JwtBusCredentials.open({ trust, dir: join(dir, 'credentials'), ttlSeconds: 3600, owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }, log: () => undefined });
  await creds.start(server.url);
  const samples: number[] = [];
  try {
    for (let i = 0; i < REVOCATIONS; i++) {
      const id = `bench-${String(i).padStart(8, '0')}`;
      const issued = await creds.issue(id, 'bench');
      const file = await readFile(join(issued.dir, 'nats.creds'));
      const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(file), reconnect: false });
      const closed = nc.closed();
      const t0 = performance.now();
      await creds.revoke(id, 'bench');
      await closed;
      samples.push(performance.now() - t0);
    }
  } finally {
    await creds.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples) };
}
