import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitForPort } from './nats-server.js';
import { freePort } from './ports.js';

/** One server of a test cluster, on loopback ports of its own. */
export interface ClusterMember {
  name: string;
  clientPort: number;
  clusterPort: number;
  monitorPort: number;
  url: string;
  /** `name=127.0.0.1:client:cluster:monitor`, as `aiflock nats cluster --server` takes it. */
  spec: string;
  running(): boolean;
  /** Start (again) from its config file, with the store it had. */
  start(): Promise<void>;
  /** Signal the process and wait for it to be gone (SIGKILL: a server that dies, no goodbye). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** GET a monitoring endpoint (`/jsz?...`, `/connz`) as JSON. */
  monitor<T>(path: string): Promise<T>;
}

export interface TestNatsCluster {
  /** A random cluster name, so no two tests' clusters ever route to one another. */
  name: string;
  members: ClusterMember[];
  /** Where each member keeps `<name>/` (JetStream, account JWTs); configs go in `<storeDir>/conf`. */
  storeDir: string;
  confDir: string;
  /** The arguments `aiflock nats cluster` needs to write this cluster's configs into confDir. */
  cliArgs: string[];
  /** Start every member from the configs in confDir and wait until JetStream has a meta leader. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A host of the test's own (a network namespace, testkit/lan.ts) for a member to run on. */
export interface MemberHost {
  ns: string;
  address: string;
}

/**
 * A three-server NATS cluster with a random name: on loopback with free ports, or, given
 * `hosts`, one server in each host's network namespace on that host's address (the default
 * ports: the namespace has them to itself), as a cluster of one server per machine is. The
 * test writes the servers' configs (with `aiflock nats cluster cliArgs`, so the flock's trust
 * chain is in them) and then calls start(). Each member is a real nats-server that can be
 * killed and brought back with its store.
 */
export async function natsCluster(size = 3, hosts?: readonly MemberHost[]): Promise<TestNatsCluster> {
  if (hosts && hosts.length !== size) throw new Error(`${size} servers need ${size} hosts, not ${hosts.length}`);
  const name = `t-${randomBytes(4).toString('hex')}`;
  const storeDir = await mkdtemp(join(tmpdir(), 'aiflock-nats-cluster-'));
  const confDir = join(storeDir, 'conf');
  const members: ClusterMember[] = [];
  for (let i = 1; i <= size; i++) members.push(await member(`n${i}`, confDir, hosts?.[i - 1]));
  const cliArgs = ['--name', name, '--store-dir', storeDir, '--out', confDir, ...members.flatMap((m) => ['--server', m.spec])];
  return {
    name,
    members,
    storeDir,
    confDir,
    cliArgs,
    async start() {
      await Promise.all(members.map((m) => m.start()));
      // Settled: every server names the same meta leader, and the leader sees all its peers
      // current (a replicated stream made before that may fail to be placed).
      type Meta = { meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { current?: boolean }[] } };
      const until = Date.now() + 60_000;
      for (;;) {
        const metas = await Promise.all(members.map((m) => m.monitor<Meta>('/jsz').catch(() => undefined)));
        const leaders = new Set(metas.map((m) => m?.meta_cluster?.leader));
        const leader = metas.find((m, i) => m?.meta_cluster?.leader === members[i]!.name)?.meta_cluster;
        if (leaders.size === 1 && !leaders.has(undefined) && leader?.cluster_size === size && (leader.replicas ?? []).length === size - 1 && leader.replicas!.every((r) => r.current)) return;
        if (Date.now() > until) throw new Error(`cluster ${name} did not settle (one meta leader, every peer current) in 60 s: ${JSON.stringify(metas)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      await Promise.all(members.map((m) => m.kill('SIGTERM')));
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

const exec = promisify(execFile);

async function member(name: string, confDir: string, host?: MemberHost): Promise<ClusterMember> {
  const [clientPort, clusterPort, monitorPort] = host ? [4222, 6222, 8222] : [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1')];
  const address = host?.address ?? '127.0.0.1';
  // nsenter changes the network namespace only and then execs nats-server: the child is the server.
  const inHost = host ? ['nsenter', `--net=/run/netns/${host.ns}`, '--'] : [];
  let proc: ChildProcess | null = null;
  let stderr = '';
  const running = () => proc !== null && proc.exitCode === null && proc.signalCode === null;
  return {
    name,
    clientPort,
    clusterPort,
    monitorPort,
    url: `nats://${address}:${clientPort}`,
    spec: `${name}=${address}:${clientPort}:${clusterPort}:${monitorPort}`,
    running,
    async start() {
      if (running()) return;
      stderr = '';
      const [cmd, ...args] = [...inHost, 'nats-server', '-c', join(confDir, `${name}.conf`)];
      const p = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      p.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      proc = p;
      await waitForPort(address, clientPort, 15_000, () => (p.exitCode !== null ? `nats-server ${name} exited: ${stderr}` : null));
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const p = proc;
      if (!p || !running()) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await gone;
    },
    async monitor<T>(path: string): Promise<T> {
      // The monitoring listener is on the server's loopback: in a host's namespace, ask from there.
      if (host) return JSON.parse((await exec(inHost[0]!, [...inHost.slice(1), 'curl', '-sf', '--max-time', '5', `http://127.0.0.1:${monitorPort}${path}`], { maxBuffer: 16 << 20 })).stdout) as T;
      const res = await fetch(`http://127.0.0.1:${monitorPort}${path}`);
      if (!res.ok) throw new Error(`${name} ${path}: HTTP ${res.status}`);
      return (await res.json()) as T;
    },
  };
}
