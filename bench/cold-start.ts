/**
 * Agent cold start: from `POST /v1/agents` (a fresh echo manifest, replicas 1) to the first
 * heartbeat of its instance, against a plain `docker run` of the same image on the same
 * network with the same runtime environment, measured in the same run.
 *
 *   npx tsx bench/cold-start.ts [--runs 5] [--json]
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerCreateOptions } from 'dockerode';
import type { AgentView } from '@aiflock/protocol';
import { containerSpec } from '../packages/daemon/src/adapters/runtimes/docker/container-spec.js';
import { SANDBOX_CREDENTIALS_DIR } from '../packages/daemon/src/adapters/runtimes/shared/shared-storage.js';
import {
  Heartbeats,
  containerCpu,
  IMAGE,
  benchArgs,
  containersOf,
  deployEcho,
  describeMachine,
  fmt,
  fmtSpread,
  interrupted,
  machine,
  main,
  median,
  onCleanup,
  progress,
  randomId,
  removeAgent,
  spread,
  startFlock,
  table,
  writeResults,
  type BenchFlock,
} from './lib.js';

const KINDS = {
  flock: 'aiflock: POST /v1/agents',
  docker: 'docker run (same image, network, env)',
  sandboxed: 'docker run + the sandbox flags (limits, read-only, no caps, init)',
} as const;
type Kind = keyof typeof KINDS;

/** Milliseconds from the start of the request (or of `docker create`) to each event. */
interface Timing {
  /** The deploy request answered, or `docker create` + `start` returned. */
  requestMs: number;
  /** Docker's `Created` and `State.StartedAt` of the container. */
  createdMs: number;
  startedMs: number;
  /** First heartbeat (state "starting": sent right after the runtime connected to NATS). */
  firstBeatMs: number;
  /** First heartbeat in state idle: the task consumer was found and pulling began. */
  readyMs: number;
  /** CPU the container used until just after it was ready, and time its CPU quota stopped it. */
  cpuMs: number;
  throttledMs: number;
}

const PHASES = ['requestMs', 'createdMs', 'startedMs', 'firstBeatMs', 'readyMs', 'cpuMs', 'throttledMs'] as const satisfies readonly (keyof Timing)[];
const opts = benchArgs();
const BENCH_LABEL = 'aiflock-bench';

main('cold-start', async () => {
  const f = await startFlock();
  onCleanup('remove the raw docker containers', async () => {
    for (const c of await f.docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${f.name}`] } })) {
      await f.docker.getContainer(c.Id).remove({ force: true });
    }
  });
  const beats = await Heartbeats.watch(f.nc);
  const measure: Record<Kind, () => Promise<Timing>> = {
    flock: () => viaFlock(f, beats, `cold-${randomId(6)}`),
    docker: () => viaDocker(f, beats, `raw-${randomId(6)}`, false),
    sandboxed: () => viaDocker(f, beats, `sbx-${randomId(6)}`, true),
  };
  const kinds = Object.keys(KINDS) as Kind[];

  const runs: Record<Kind, Timing>[] = [];
  // Run 0 warms the page cache and Docker's image layers; it is not counted.
  for (let run = 0; run <= opts.runs; run++) {
    const row: Partial<Record<Kind, Timing>> = {};
    // Rotate the order so that no kind always goes first (or right after another's cleanup).
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[(run + i) % kinds.length]!;
      row[kind] = await measure[kind]();
      progress(`${run === 0 ? 'warm-up' : `run ${run}/${opts.runs}`} ${kind}: first heartbeat ${fmt(row[kind].firstBeatMs)} ms, ready ${fmt(row[kind].readyMs)} ms`);
    }
    if (run > 0) runs.push(row as Record<Kind, Timing>);
  }

  const of = (kind: Kind, key: keyof Timing) => spread(runs.map((r) => r[kind][key]));
  const ratio = (kind: Kind, key: keyof Timing) => spread(runs.map((r) => r.flock[key] / r[kind][key]));
  const summary = {
    firstHeartbeatMs: Object.fromEntries(kinds.map((k) => [k, of(k, 'firstBeatMs')])),
    readyHeartbeatMs: Object.fromEntries(kinds.map((k) => [k, of(k, 'readyMs')])),
    ratioFlockToDocker: { firstHeartbeat: ratio('docker', 'firstBeatMs'), ready: ratio('docker', 'readyMs') },
    ratioFlockToSandboxed: { firstHeartbeat: ratio('sandboxed', 'firstBeatMs'), ready: ratio('sandboxed', 'readyMs') },
    phasesMedianMs: Object.fromEntries(
      kinds.map((k) => [k, Object.fromEntries(PHASES.map((p) => [p, median(runs.map((r) => r[k][p]))]))]),
    ),
  };
  const m = await machine(f.docker);
  const file = await writeResults('cold-start', { benchmark: 'cold-start', date: new Date().toISOString(), machine: m, options: { runs: opts.runs, image: IMAGE }, runs, summary });
  progress(`wrote ${file}`);

  if (opts.json) {
    process.stdout.write(JSON.stringify({ machine: m, summary }, null, 2) + '\n');
    return;
  }
  const lines = [
    `### Agent cold start (${opts.runs} runs; median (min–max) in ms)`,
    '',
    `Machine: ${describeMachine(m)}`,
    '',
    table(
      ['', 'to first heartbeat', 'to ready heartbeat'],
      kinds.map((k) => [KINDS[k], fmtSpread(summary.firstHeartbeatMs[k]!), fmtSpread(summary.readyHeartbeatMs[k]!)]),
    ),
    '',
    table(
      ['ratio (per run, then median)', 'first heartbeat', 'ready heartbeat'],
      [
        ['aiflock / docker run', fmtSpread(summary.ratioFlockToDocker.firstHeartbeat), fmtSpread(summary.ratioFlockToDocker.ready)],
        ['aiflock / docker run + sandbox flags', fmtSpread(summary.ratioFlockToSandboxed.firstHeartbeat), fmtSpread(summary.ratioFlockToSandboxed.ready)],
      ],
    ),
    '',
    'Where the time goes (median ms after the request was sent):',
    '',
    table(
      ['', 'request answered', 'container created', 'container started', 'first heartbeat', 'ready heartbeat', 'container CPU used', 'held back by its CPU quota'],
      kinds.map((k) => {
        const p = summary.phasesMedianMs[k]!;
        return [KINDS[k], ...PHASES.map((key) => fmt(p[key]!))];
      }),
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
});

/** Deploy a fresh echo agent with one replica; time to its instance's heartbeats. */
async function viaFlock(f: BenchFlock, beats: Heartbeats, name: string): Promise<Timing> {
  const beat = Promise.all([
    beats.next(`the first heartbeat of ${name}`, (hb) => hb.agent === name),
    beats.next(`the ready heartbeat of ${name}`, (hb) => hb.agent === name && hb.state !== 'starting'),
  ]);
  const wall0 = Date.now();
  const t0 = performance.now();
  await deployEcho(f, name, 1);
  const requestMs = performance.now() - t0;
  const [first, ready] = await beat;
  const [container] = await containersOf(f, name);
  if (!container) throw new Error(`no container found for ${name}`);
  const docker = await dockerTimes(f, container.Id, wall0);
  await removeAgent(f, name);
  return { requestMs, ...docker, firstBeatMs: first.at - t0, readyMs: ready.at - t0 };
}

/**
 * The same runtime started by hand. Its task queue must exist for it to become ready, so the
 * agent is first deployed with zero replicas (the daemon creates the queue, starts nothing).
 */
async function viaDocker(f: BenchFlock, beats: Heartbeats, name: string, sandboxed: boolean): Promise<Timing> {
  const agent = await deployEcho(f, name, 0);
  const instanceId = `${name}-${randomId()}`;
  // The bus refuses anonymous clients: like the flock's instances, the container gets its own
  // credentials file, read-only where the runtime mounts it. Issued before the clock starts,
  // as a runtime is handed them by the reconciler.
  const credsDir = await busCredentialsDir(f, instanceId);
  // Only the first heartbeat: a raw container holds operator credentials of the flock account,
  // not an instance's of the agents account, so its runtime cannot look up its task queue
  // through the agents account's JetStream import and never becomes ready (no ready figure).
  const beat = beats.next(`the first heartbeat of ${instanceId}`, (hb) => hb.instanceId === instanceId);
  const wall0 = Date.now();
  const t0 = performance.now();
  const container = await f.docker.createContainer(rawSpec(f, agent, instanceId, sandboxed, credsDir));
  if (interrupted()) {
    await container.remove({ force: true }); // created after the cleanup swept the raw containers
    throw new Error('interrupted');
  }
  await container.start();
  const requestMs = performance.now() - t0;
  const first = await beat.catch(async (err: unknown) => {
    // Say why: what the runtime printed before it gave up.
    const logs = await container.logs({ stdout: true, stderr: true, tail: 15 }).catch(() => '');
    throw new Error(`${String(err)}; the container said: ${logs.toString()}`);
  });
  const docker = await dockerTimes(f, container.id, wall0);
  await container.remove({ force: true });
  await removeAgent(f, name);
  if (credsDir) await rm(credsDir, { recursive: true, force: true });
  return { requestMs, ...docker, firstBeatMs: first.at - t0, readyMs: NaN };
}

/** A directory holding `nats.creds` for the raw container (readable by its non-root user), or null without bus auth. */
async function busCredentialsDir(f: BenchFlock, name: string): Promise<string | null> {
  const creds = await f.busCreds(name);
  if (!creds) return null;
  const dir = await mkdtemp(join(tmpdir(), 'aiflock-bench-creds-'));
  onCleanup(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  // mkdtemp makes the directory 0700 (root's): the sandbox user must reach the file in it.
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'nats.creds'), creds, { mode: 0o444 });
  return dir;
}

async function dockerTimes(f: BenchFlock, id: string, wall0: number): Promise<{ createdMs: number; startedMs: number; cpuMs: number; throttledMs: number }> {
  const cpu = await containerCpu(id);
  const info = await f.docker.getContainer(id).inspect();
  return { createdMs: Date.parse(info.Created) - wall0, startedMs: Date.parse(info.State.StartedAt) - wall0, ...cpu };
}

/** The environment the reconciler gives an instance (packages/core/src/services/reconciler.ts). */
function rawSpec(f: BenchFlock, agent: AgentView, instanceId: string, sandboxed: boolean, credsDir: string | null): ContainerCreateOptions {
  const env: Record<string, string> = {
    AIFLOCK_INSTANCE_ID: instanceId,
    AIFLOCK_AGENT: agent.name,
    AIFLOCK_NATS_URL: f.natsUrl,
    AIFLOCK_HANDLERS: agent.handlers.join(','),
    AIFLOCK_HEARTBEAT_MS: String(agent.heartbeatMs),
    AIFLOCK_CONCURRENCY: '1', // the echo manifest's default
    ...(credsDir ? { AIFLOCK_NATS_CREDS: `${SANDBOX_CREDENTIALS_DIR}/nats.creds` } : {}),
  };
  // Exactly the daemon's hardening (the pure spec function it uses), minus the bind mounts
  // of the shared storage, so this baseline cannot drift from what the flock runs.
  const { cpu, memoryBytes, pids } = agent.resources;
  const { Mounts: _mounts, NetworkMode: _net, ...sandbox } = containerSpec(
    { instanceId, agent: agent.name, image: IMAGE, profile: 'restricted', env, manifestDigest: agent.digest, resources: { cpu, memoryBytes, pids, tmpBytes: 64 * 1024 ** 2 } },
    { flock: f.name, node: 'bench', network: f.network, gatewayIp: f.gatewayIp, sharedDir: '/nonexistent' },
  ).HostConfig ?? {};
  return {
    name: `aiflock-bench-${f.name}-${instanceId}`,
    Image: IMAGE,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { [BENCH_LABEL]: f.name },
    HostConfig: {
      NetworkMode: f.network,
      ...(sandboxed ? sandbox : {}),
      ...(credsDir ? { Mounts: [{ Type: 'bind', Source: credsDir, Target: SANDBOX_CREDENTIALS_DIR, ReadOnly: true }] } : {}),
    },
  };
}
