/**
 * What an idle agent instance costs in memory: `--instances` (50) echo instances started by
 * the flock and left idle, against as many bare `node` processes that do nothing but hold a
 * NATS connection, each in an equally hardened container (the daemon's own container spec:
 * user, read-only root, tmpfs, no capabilities, the echo manifest's limits) on the same
 * network, measured in the same run.
 *
 * Per container: the memory cgroup's usage and its resident (anonymous) part. System-wide:
 * how much `MemAvailable` fell while the containers ran (the container shims, the kernel's
 * share and page cache included), divided by the number of containers. Other work on the
 * machine moves the system-wide figure; the per-container figures are the container's own.
 *
 *   npx tsx bench/idle-cost.ts [--runs 1] [--json] [--instances 50] [--settle-s 20]
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { ContainerCreateOptions } from 'dockerode';
import type { AgentView } from '@aiflock/protocol';
import { containerSpec } from '../packages/daemon/src/adapters/runtimes/docker/container-spec.js';
import { SANDBOX_CREDENTIALS_DIR } from '../packages/daemon/src/adapters/runtimes/shared/shared-storage.js';
import {
  Heartbeats,
  IMAGE,
  benchArgs,
  containersOf,
  deployEcho,
  describeMachine,
  fmt,
  fmtSpread,
  machine,
  main,
  median,
  onCleanup,
  progress,
  randomId,
  sleep,
  spread,
  startFlock,
  table,
  until,
  writeResults,
  type BenchFlock,
} from './lib.js';

const opts = benchArgs({ instances: 50, 'settle-s': 20 });
const INSTANCES = opts.extra['instances']!;
const SETTLE_MS = opts.extra['settle-s']! * 1000;
const AGENT = 'bench-idle';
const BENCH_LABEL = 'aiflock-bench-idle';
const MiB = 1024 ** 2;
/** Where each baseline announces it has connected. */
const UP_SUBJECT = 'bench.idle.up';

/** The baseline's whole program: connect with the credentials given, then wait. */
const IDLE_SOURCE = `
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator } from 'nats';
const nc = await connect({ servers: process.env.NATS_URL, name: 'idle-baseline', authenticator: credsAuthenticator(readFileSync(process.env.NATS_CREDS)), maxReconnectAttempts: -1 });
nc.publish(process.env.UP_SUBJECT, process.env.NAME);
await nc.closed();
`;

interface Memory {
  /** Median over the containers of the cgroup's usage (resident memory and page cache), MiB. */
  cgroupMiB: number;
  /** Median over the containers of the cgroup's resident (anonymous) memory, MiB. */
  rssMiB: number;
  /** Fall of MemAvailable while the containers ran, per container, MiB. */
  systemMiB: number;
}

interface Run {
  flock: Memory;
  baseline: Memory;
}

main('idle-cost', async () => {
  const f = await startFlock();
  const m = await machine(f.docker);
  onCleanup('remove the baseline containers', () => removeBaseline(f));
  const program = await idleProgram();
  const runs: Run[] = [];
  for (let r = 0; r < opts.runs; r++) {
    progress(`run ${r + 1}/${opts.runs}: ${INSTANCES} idle echo instances`);
    const flock = await measureFlock(f);
    progress(`run ${r + 1}/${opts.runs}: ${INSTANCES} bare node processes holding a NATS connection`);
    const baseline = await measureBaseline(f, program);
    runs.push({ flock, baseline });
    progress(`run ${r + 1}: flock ${fmt(flock.cgroupMiB)} MiB/cgroup, ${fmt(flock.systemMiB)} MiB/system; baseline ${fmt(baseline.cgroupMiB)} / ${fmt(baseline.systemMiB)}`);
  }
  const ratio = (k: keyof Memory) => spread(runs.map((x) => x.flock[k] / x.baseline[k]));
  const col = (pick: (x: Run) => number) => fmtSpread(spread(runs.map(pick)));
  const summary = {
    machine: m,
    instances: INSTANCES,
    settleMs: SETTLE_MS,
    ratios: { cgroup: ratio('cgroupMiB'), rss: ratio('rssMiB'), system: ratio('systemMiB') },
    runs,
  };
  await writeResults('idle-cost', summary);
  if (opts.json) return void console.log(JSON.stringify(summary, null, 2));
  console.log(`### Idle cost per instance (runs: ${opts.runs}; median (min–max) over runs)\n`);
  console.log(`Machine: ${describeMachine(m)}\n`);
  console.log(`${INSTANCES} containers of each kind, measured after ${SETTLE_MS / 1000} s idle. MiB per container.\n`);
  console.log(
    table(
      ['', 'cgroup usage', 'cgroup resident (rss)', 'system-wide (MemAvailable fall)'],
      [
        ['aiflock echo instance (idle)', col((x) => x.flock.cgroupMiB), col((x) => x.flock.rssMiB), col((x) => x.flock.systemMiB)],
        ['bare node holding a NATS connection (baseline)', col((x) => x.baseline.cgroupMiB), col((x) => x.baseline.rssMiB), col((x) => x.baseline.systemMiB)],
        ['ratio aiflock / baseline', fmtSpread(summary.ratios.cgroup), fmtSpread(summary.ratios.rss), fmtSpread(summary.ratios.system)],
      ],
    ),
  );
});

async function measureFlock(f: BenchFlock): Promise<Memory> {
  const beats = await Heartbeats.watch(f.nc);
  const before = await memAvailable();
  await deployEcho(f, AGENT, INSTANCES);
  const ready = () => [...beats.ready].filter((id) => id.startsWith(`${AGENT}-`)).length;
  await until(`${INSTANCES} ready heartbeats of ${AGENT}`, async () => ready() >= INSTANCES, 600_000);
  await sleep(SETTLE_MS);
  const ids = (await containersOf(f, AGENT)).filter((c) => c.State === 'running').map((c) => c.Id);
  const memory = await measure(ids, before);
  await f.api('DELETE', `/v1/agents/${AGENT}`);
  await until(`${AGENT}'s containers gone`, async () => (await containersOf(f, AGENT)).length === 0, 300_000);
  return memory;
}

async function measureBaseline(f: BenchFlock, program: string): Promise<Memory> {
  // The echo manifest's limits and the daemon's hardening, as the flock's instances get them.
  const agent = await deployEcho(f, `${AGENT}-limits`, 0);
  const credsDir = await mkdtemp(join(tmpdir(), 'aiflock-bench-idle-'));
  onCleanup(`remove ${credsDir}`, () => rm(credsDir, { recursive: true, force: true }));
  await chmod(credsDir, 0o755); // the sandbox user must reach the files
  await writeFile(join(credsDir, 'nats.creds'), (await f.busCreds('bench-idle-baseline')) ?? '', { mode: 0o444 });
  await writeFile(join(credsDir, 'idle.mjs'), program, { mode: 0o444 });
  // Each baseline says it is connected by publishing its name once.
  const up = new Set<string>();
  const sub = f.nc.subscribe(UP_SUBJECT, { callback: (err, msg) => void (err || up.add(msg.string())) });
  await f.nc.flush();
  const before = await memAvailable();
  const ids: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const c = await f.docker.createContainer(baselineSpec(f, agent, `${agent.name}-${randomId()}`, credsDir));
    await c.start();
    ids.push(c.id);
  }
  await until(`${INSTANCES} baseline connections`, async () => up.size >= INSTANCES, 120_000).catch(async (err: unknown) => {
    const logs = await f.docker.getContainer(ids[0]!).logs({ stdout: true, stderr: true, tail: 20 });
    throw new Error(`${String(err)}; the first baseline container said: ${logs.toString()}`);
  });
  sub.unsubscribe();
  await sleep(SETTLE_MS);
  const memory = await measure(ids, before);
  await removeBaseline(f);
  await f.api('DELETE', `/v1/agents/${agent.name}`);
  return memory;
}

function baselineSpec(f: BenchFlock, agent: AgentView, name: string, dir: string): ContainerCreateOptions {
  const { cpu, memoryBytes, pids } = agent.resources;
  const env = { NATS_URL: f.natsUrl, NATS_CREDS: `${SANDBOX_CREDENTIALS_DIR}/nats.creds`, UP_SUBJECT, NAME: name };
  const { Mounts: _mounts, NetworkMode: _net, ...sandbox } = containerSpec(
    { instanceId: name, agent: agent.name, image: IMAGE, profile: 'restricted', env, manifestDigest: agent.digest, resources: { cpu, memoryBytes, pids, tmpBytes: 64 * MiB } },
    { flock: f.name, node: 'bench', network: f.network, gatewayIp: f.gatewayIp, sharedDir: '/nonexistent' },
  ).HostConfig ?? {};
  return {
    name: `aiflock-bench-${f.name}-${name}`,
    Image: IMAGE,
    Entrypoint: ['node', `${SANDBOX_CREDENTIALS_DIR}/idle.mjs`],
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { [BENCH_LABEL]: f.name },
    HostConfig: { ...sandbox, NetworkMode: f.network, Mounts: [{ Type: 'bind', Source: dir, Target: SANDBOX_CREDENTIALS_DIR, ReadOnly: true }] },
  };
}

async function removeBaseline(f: BenchFlock): Promise<void> {
  for (const c of await f.docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${f.name}`] } })) {
    await f.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
}

/** The baseline program with nats.js bundled in, as the agent runtime is bundled. */
async function idleProgram(): Promise<string> {
  const out = await build({ stdin: { contents: IDLE_SOURCE, resolveDir: process.cwd(), loader: 'js' }, bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false, minify: true,
    // nats.js is CommonJS: its require() of Node's modules needs a require in an ES module.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
  return out.outputFiles[0]!.text;
}

async function measure(ids: string[], availableBefore: number): Promise<Memory> {
  if (ids.length < INSTANCES) throw new Error(`only ${ids.length} of ${INSTANCES} containers are running`);
  const per = await Promise.all(ids.map(cgroupMemory));
  const after = await memAvailable();
  return {
    cgroupMiB: median(per.map((p) => p.usage)) / MiB,
    rssMiB: median(per.map((p) => p.rss)) / MiB,
    systemMiB: (availableBefore - after) / ids.length / MiB,
  };
}

/** A container's memory cgroup: usage and resident (anonymous) bytes; cgroup v1 or v2. */
async function cgroupMemory(id: string): Promise<{ usage: number; rss: number }> {
  const read = (p: string) => readFile(p, 'utf8').catch(() => null);
  const v1 = await read(`/sys/fs/cgroup/memory/docker/${id}/memory.usage_in_bytes`);
  if (v1 !== null) {
    const stat = (await read(`/sys/fs/cgroup/memory/docker/${id}/memory.stat`)) ?? '';
    return { usage: Number(v1), rss: Number(/^total_rss (\d+)/m.exec(stat)?.[1] ?? NaN) };
  }
  const base = `/sys/fs/cgroup/system.slice/docker-${id}.scope`;
  const stat = (await read(`${base}/memory.stat`)) ?? '';
  return { usage: Number((await read(`${base}/memory.current`)) ?? NaN), rss: Number(/^anon (\d+)/m.exec(stat)?.[1] ?? NaN) };
}

async function memAvailable(): Promise<number> {
  const kb = /^MemAvailable:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1];
  return Number(kb) * 1024;
}
