/**
 * Shared by the benchmarks: a private flock started through the real CLI, a host-side NATS
 * connection to its bus, heartbeat and result watchers, statistics, reporting and cleanup
 * that also runs when a benchmark fails or is interrupted.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { subjects, type AgentView, type Heartbeat, type SystemStatus, type TaskResult } from '@aiflock/protocol';
import { REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';

/** The agent image the flock runs (AIFLOCK_IMAGE, as the daemon reads it), so raw baselines run the very same image. */
export const IMAGE = process.env['AIFLOCK_IMAGE'] || 'aiflock/agent:latest';
const codec = JSONCodec();
const began = performance.now();

// ---------------------------------------------------------------- command line, output

export interface BenchOptions {
  runs: number;
  json: boolean;
  /** Numeric options particular to one benchmark, with their values. */
  extra: Record<string, number>;
  /** Boolean `--name` switches particular to one benchmark. */
  flags: Record<string, boolean>;
}

/** `--runs N` (default 5), `--json`, and the benchmark's own numeric `--name value` options. */
export function benchArgs(extra: Record<string, number> = {}, flags: readonly string[] = []): BenchOptions {
  const options: Record<string, { type: 'string' | 'boolean' }> = { runs: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } };
  for (const name of Object.keys(extra)) options[name] = { type: 'string' };
  for (const name of flags) options[name] = { type: 'boolean' };
  const usage = `usage: ${process.argv[1]?.split('/').pop()} [--runs N] [--json]${Object.entries(extra).map(([k, v]) => ` [--${k} ${v}]`).join('')}${flags.map((f) => ` [--${f}]`).join('')}`;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ options, strict: true }).values;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    process.exit(2);
  }
  if (values['help']) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const int = (name: string, fallback: number): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} expects a positive integer, got ${String(raw)}`);
    return n;
  };
  return {
    runs: int('runs', 5),
    json: values['json'] === true,
    extra: Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, int(k, v)])),
    flags: Object.fromEntries(flags.map((f) => [f, values[f] === true])),
  };
}

export function progress(msg: string): void {
  process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

export function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** About three significant figures: 1234.5 → "1235", 12.34 → "12.3", 1.234 → "1.23", 0.01234 → "0.012". */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  return abs >= 100 ? x.toFixed(0) : abs >= 10 ? x.toFixed(1) : abs >= 1 || abs === 0 ? x.toFixed(2) : x.toPrecision(2);
}

/** "median (min–max)" */
export const fmtSpread = (s: Spread): string => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

export async function writeResults(name: string, data: unknown): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

// ---------------------------------------------------------------- statistics

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Mean of the middle values, dropping `trim` of them at each end: robust to a few outliers,
 * and unlike a median it does not snap to the grid of coarse (e.g. whole-ms) timestamps. */
export function trimmedMean(xs: number[], trim = 0.1): number {
  const s = [...xs].sort((a, b) => a - b);
  const cut = Math.floor(s.length * trim);
  const mid = s.slice(cut, s.length - cut);
  return mid.reduce((a, b) => a + b, 0) / mid.length;
}

export function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

// ---------------------------------------------------------------- cleanup

const cleanups: { what: string; fn: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | null = null;

/** Registered cleanups run last-registered first, once, on success, failure or a signal. */
export function onCleanup(what: string, fn: () => Promise<unknown>): void {
  cleanups.unshift({ what, fn });
}

function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    for (const { what, fn } of cleanups.splice(0)) {
      progress(`cleanup: ${what}`);
      await fn().catch((err: unknown) => progress(`cleanup of ${what} failed: ${String(err)}`));
    }
  })();
  return cleaning;
}

/** True once cleanup began (e.g. on SIGINT): whatever a benchmark creates now would be missed. */
export const interrupted = (): boolean => cleaning !== null;

/** Run a benchmark, always clean up, exit non-zero on failure. */
export function main(name: string, body: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      progress(`${sig}: cleaning up`);
      void runCleanups().then(() => process.exit(130));
    });
  }
  void (async () => {
    let code = 0;
    try {
      await body();
    } catch (err) {
      progress(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      code = 1;
    }
    await runCleanups();
    process.exit(code);
  })();
}

// ---------------------------------------------------------------- the flock

export interface BenchFlock {
  name: string;
  /** The flock's Docker network, e.g. aiflock-tabc1234. */
  network: string;
  /** nats://<bridge gateway>:<port>, where sandboxes (and we) reach the bus. */
  natsUrl: string;
  gatewayIp: string;
  /** Host-side connection to the flock's nats-server. */
  nc: NatsConnection;
  /** Another host-side connection, with the same credentials as `nc`. */
  connectBus: (name: string) => Promise<NatsConnection>;
  /** Fresh bus credentials (a .creds file's text) named `name`, or null when the flock's bus runs without auth. */
  busCreds: (name: string) => Promise<string | null>;
  daemonPid: number;
  natsPid: number;
  docker: Dockerode;
  testFlock: TestFlock;
  api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

/** A private flock (own data dir, name, ports) via `aiflock up --no-demo`; `aiflock down` at cleanup. */
export async function startFlock(opts: { busAuth?: 'jwt' | 'none'; configYaml?: string; env?: Record<string, string> } = {}): Promise<BenchFlock> {
  const tf = await testFlock(opts.env ? { env: opts.env } : {});
  // The daemon reads <data dir>/config.yaml at start (LLM providers, tiers...).
  if (opts.configYaml) await writeFile(join(tf.home, 'config.yaml'), opts.configYaml);
  if (opts.busAuth) tf.env['AIFLOCK_NATS_AUTH'] = opts.busAuth;
  // The testkit asks for debug logs; measure the product's default level instead.
  tf.env['AIFLOCK_LOG_LEVEL'] = 'info';
  onCleanup(`aiflock down (flock ${tf.name})`, () => tf.cleanup());
  // These benchmarks measure the API and bus, not the per-token rate limiter.
  tf.env['AIFLOCK_RATE_LIMIT_MAX'] = '100000000';
  // BENCH_CPU_PROF=<dir>: the daemon writes a V8 CPU profile there when it exits (see cpu-profile.mjs).
  if (process.env['BENCH_CPU_PROF']) Object.assign(tf.env, { BENCH_CPU_PROF: process.env['BENCH_CPU_PROF'], BENCH_CPU_PROF_INTERVAL_US: process.env['BENCH_CPU_PROF_INTERVAL_US'] ?? '', NODE_OPTIONS: `--import ${join(REPO_ROOT, 'bench', 'cpu-profile.mjs')}` });
  progress(`starting flock ${tf.name} (aiflock up --no-demo)`);
  const up = await tf.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  if (up.code !== 0) throw new Error(`aiflock up exited ${up.code}: ${up.stderr}`);

  const authorization = `Bearer ${await tf.adminToken()}`;
  const api = async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${tf.apiUrl}${path}`, {
      method,
      headers: body === undefined ? { authorization } : { 'content-type': 'application/json', authorization },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  const status = await api<SystemStatus>('GET', '/v1/status');
  const natsUrl = /nats:\/\/[0-9.]+:\d+/.exec(status.checks['nats']?.detail ?? '')?.[0];
  if (!natsUrl) throw new Error(`no NATS url in the daemon's status: ${JSON.stringify(status.checks)}`);
  // With bus auth on (the default) the bench connects with operator credentials, as a tool would.
  const busCreds = async (name: string) => (status.checks['busAuth']?.ok ? (await api<{ creds: string }>('POST', '/v1/system/bus-credentials', { name })).creds : null);
  const creds = await busCreds('bench');
  const connectBus = (name: string) => connect({ servers: natsUrl, name, timeout: 60_000, ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}) });
  const nc = await connectBus('aiflock-bench');
  onCleanup('close the bench NATS connection', () => nc.close());
  const natsPid = Number((await readFile(join(tf.home, 'nats', 'nats.pid'), 'utf8')).trim());
  progress(`flock ${tf.name} is up: API ${tf.apiUrl}, NATS ${natsUrl}`);
  return {
    name: tf.name,
    network: `aiflock-${tf.name}`,
    natsUrl,
    gatewayIp: new URL(natsUrl).hostname,
    nc,
    connectBus,
    busCreds,
    daemonPid: status.pid,
    natsPid,
    docker: new Dockerode(),
    testFlock: tf,
    api,
  };
}

let echoExample: Promise<string> | null = null;

/** examples/echo.agent.yaml (read once) under another name and replica count. */
/** The echo example renamed, at `replicas`; `wide` also sets its concurrency and CPU. */
export async function echoManifest(name: string, replicas: number, wide?: { concurrency: number; cpu: number }): Promise<string> {
  const text = await (echoExample ??= readFile(join(REPO_ROOT, 'examples', 'echo.agent.yaml'), 'utf8'));
  const named = text.replace(/^name: .*$/m, `name: ${name}`).replace(/^replicas: .*$/m, `replicas: ${replicas}`);
  return wide ? named.replace(/^  cpu: .*$/m, `  cpu: ${wide.cpu}`).replace(/^replicas: .*$/m, (l) => `${l}\nconcurrency: ${wide.concurrency}`) : named;
}

export async function deployEcho(f: BenchFlock, name: string, replicas: number, wide?: { concurrency: number; cpu: number }): Promise<AgentView> {
  const manifest = await echoManifest(name, replicas, wide);
  return (await f.api<{ agent: AgentView }>('POST', '/v1/agents', { manifest, filename: `${name}.agent.yaml` })).agent;
}

/** Containers the flock runs for an agent (found by the daemon's labels). */
export async function containersOf(f: BenchFlock, agent: string): Promise<Dockerode.ContainerInfo[]> {
  return f.docker.listContainers({ all: true, filters: { label: [`aiflock.flock=${f.name}`, `aiflock.agent=${agent}`] } });
}

/** Poll `check` every 100 ms until it returns true; fail after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Remove an agent and wait until its containers are gone. */
export async function removeAgent(f: BenchFlock, name: string): Promise<void> {
  await f.api('DELETE', `/v1/agents/${name}`);
  await until(`the containers of ${name} to be removed`, async () => (await containersOf(f, name)).length === 0);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const randomId = (n = 8): string =>
  Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)]).join('');

// ---------------------------------------------------------------- watchers on the bus

export interface SeenBeat {
  hb: Heartbeat;
  /** performance.now() when it arrived here. */
  at: number;
}

/** Every heartbeat on the flock (`agent.*.heartbeat`), with waiters and the set of ready instances. */
export class Heartbeats {
  /** Instances that sent a heartbeat in state idle or busy (consumer found, pulling tasks). */
  readonly ready = new Set<string>();
  private waiters: { match: (hb: Heartbeat) => boolean; resolve: (s: SeenBeat) => void }[] = [];

  private constructor(nc: NatsConnection) {
    nc.subscribe(subjects.allHeartbeats, {
      callback: (err, m) => {
        if (err) return;
        const seen = { hb: codec.decode(m.data) as Heartbeat, at: performance.now() };
        if (seen.hb.state === 'idle' || seen.hb.state === 'busy') this.ready.add(seen.hb.instanceId);
        for (const w of this.waiters.filter((x) => x.match(seen.hb))) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(seen);
        }
      },
    });
  }

  static async watch(nc: NatsConnection): Promise<Heartbeats> {
    const h = new Heartbeats(nc);
    await nc.flush(); // the subscription is in place on the server before anything is timed
    return h;
  }

  /** The next heartbeat matching `match`; register before starting what is timed. */
  next(what: string, match: (hb: Heartbeat) => boolean, timeoutMs = 60_000): Promise<SeenBeat> {
    return withTimeout(what, timeoutMs, new Promise<SeenBeat>((resolve) => this.waiters.push({ match, resolve })));
  }
}

export interface SeenResult {
  result: TaskResult;
  at: number;
  wallAt: number;
}

/** Verified results the daemon re-publishes on `task.result`, by task id. */
export class TaskResults {
  private readonly arrived = new Map<string, SeenResult>();
  private readonly waiting = new Map<string, (r: SeenResult) => void>();

  private constructor(nc: NatsConnection) {
    nc.subscribe(subjects.taskResult, {
      callback: (err, m) => {
        if (err) return;
        const seen = { result: codec.decode(m.data) as TaskResult, at: performance.now(), wallAt: Date.now() };
        const waiter = this.waiting.get(seen.result.taskId);
        if (waiter) {
          this.waiting.delete(seen.result.taskId);
          waiter(seen);
        } else this.arrived.set(seen.result.taskId, seen); // before the POST answered
      },
    });
  }

  static async watch(nc: NatsConnection): Promise<TaskResults> {
    const r = new TaskResults(nc);
    await nc.flush();
    return r;
  }

  wait(taskId: string, timeoutMs = 60_000): Promise<SeenResult> {
    const early = this.arrived.get(taskId);
    if (early) {
      this.arrived.delete(taskId);
      return Promise.resolve(early);
    }
    return withTimeout(`the result of ${taskId}`, timeoutMs, new Promise<SeenResult>((resolve) => this.waiting.set(taskId, resolve)));
  }
}

export function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  const out = Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  // A waiter nobody awaits any more (its run already failed) must not crash the process.
  out.catch(() => undefined);
  return out;
}

// ---------------------------------------------------------------- CPU time

/**
 * CPU time a process's threads have run so far, in ms: the sum of /proc/<pid>/task/<tid>/schedstat
 * (ns precision; threads that already exited are not counted, fine for long-lived servers).
 */
export async function processCpuMs(pid: number): Promise<number> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const ns = await Promise.all(tids.map((t) => readFile(`/proc/${pid}/task/${t}/schedstat`, 'utf8').then((x) => Number(x.split(' ')[0]), () => 0)));
  return tids.length ? ns.reduce((a, b) => a + b, 0) / 1e6 : NaN;
}

/**
 * CPU time a container's cgroup used so far, and how long its CPU quota held it back
 * (throttled), in ms; cgroup v1 (cpuacct, cpu) or v2. NaN where the files are not found.
 */
export async function containerCpu(id: string): Promise<{ cpuMs: number; throttledMs: number }> {
  const read = (path: string) => readFile(path, 'utf8').catch(() => null);
  const v1 = await read(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`);
  if (v1 !== null) {
    const throttled = /^throttled_time (\d+)/m.exec((await read(`/sys/fs/cgroup/cpu/docker/${id}/cpu.stat`)) ?? '')?.[1];
    return { cpuMs: Number(v1) / 1e6, throttledMs: Number(throttled ?? NaN) / 1e6 };
  }
  const v2 = (await read(`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`)) ?? '';
  const usec = (key: string) => Number(new RegExp(`^${key} (\\d+)`, 'm').exec(v2)?.[1] ?? NaN) / 1e3;
  return { cpuMs: usec('usage_usec'), throttledMs: usec('throttled_usec') };
}

// ---------------------------------------------------------------- the machine

export interface Machine {
  cpus: number;
  cpuModel: string;
  os: string;
  kernel: string;
  node: string;
  docker: string;
  natsServer: string;
}

export async function machine(docker: Dockerode): Promise<Machine> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const nats = await new Promise<string>((resolve) =>
    execFile('nats-server', ['--version'], { timeout: 5_000 }, (err, stdout) => resolve(err ? 'unknown' : stdout.trim())),
  );
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'unknown',
    kernel: release(),
    node: process.version,
    docker: (await docker.version()).Version,
    natsServer: nats,
  };
}

export const describeMachine = (m: Machine): string =>
  `${m.cpus} cores (${m.cpuModel}), ${m.os}, kernel ${m.kernel}, Docker ${m.docker}, ${m.natsServer}, Node ${m.node}`;
