/**
 * Scale-out: one flock on several "hosts" of this machine (network namespaces the benchmark
 * makes, each running `aiflock node join` with the process runtime, as test/nodes.test.ts
 * does), against the control plane's host alone, in the same run:
 *   - placement: echo instances placed and running per second (a deploy of `--replicas`);
 *   - a node's death: from SIGKILL of its node agent to its instances running on another node;
 *   - echo task throughput with the instances on the control plane's host only, on one joined
 *     node, and spread over two.
 * The control plane's host runs Docker sandboxes (its bus listens on the Docker bridge, which
 * is where the namespaces reach it); the joined nodes run bubblewrap ones (the process runtime).
 *
 *   npx tsx bench/scale-out.ts [--runs 5] [--json] [--replicas 4] [--tasks 200] [--concurrency 16]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentView, IssuedJoinToken, NodeInfo, TaskView } from '@aiflock/protocol';
import { removeNodeLeftovers } from '../testkit/node-leftovers.js';
import { CLI } from '../testkit/cli.js';
import { remoteHost, type RemoteHost } from '../testkit/netns.js';
import { benchArgs, describeMachine, echoManifest, fmtSpread, machine, main, onCleanup, progress, spread, startFlock, table, TaskResults, until, withTimeout, writeResults, type BenchFlock } from './lib.js';

const opts = benchArgs({ replicas: 4, tasks: 200, concurrency: 16 });
// Medians of at least 3 runs.
const RUNS = Math.max(3, opts.runs);
const REPLICAS = opts.extra['replicas']!;
const TASKS = opts.extra['tasks']!;
const CONCURRENCY = opts.extra['concurrency']!;
const HEARTBEAT_MS = 1000;
const LOST_AFTER_MS = 5000;
const NODES = ['bench-a', 'bench-b'] as const;
const LAYOUTS = ['control plane only', 'one joined node', 'two joined nodes'] as const;
type Layout = (typeof LAYOUTS)[number];

interface Run {
  placed: Record<'control plane only' | 'two joined nodes', { placedMs: number; runningMs: number; perSecond: number }>;
  throughput: Record<Layout, number>;
  death: { lostMs: number; replacedMs: number };
}

main('scale-out', async () => {
  const f = await startFlock({
    env: {
      // Nodes reach the API and the bus over their veth links.
      AIFLOCK_API_HOST: '0.0.0.0',
      AIFLOCK_NODE: 'cp',
      AIFLOCK_NODE_HEARTBEAT_MS: String(HEARTBEAT_MS),
      AIFLOCK_NODE_LOST_AFTER_MS: String(LOST_AFTER_MS),
      AIFLOCK_TASK_ACK_WAIT_MS: '4000',
    },
  });
  const m = await machine(f.docker);
  const nodes = new Map<string, { host: RemoteHost; home: string; child: ChildProcess }>();
  onCleanup('the node agents, their sandboxes and hosts', async () => {
    for (const n of nodes.values()) killGroup(n.child);
    for (const n of nodes.values()) await n.host.close();
    for (const name of NODES) await removeNodeLeftovers(f.name, name).catch(() => undefined);
    for (const n of nodes.values()) await rm(n.home, { recursive: true, force: true });
  });
  const apiPort = f.testFlock.env['AIFLOCK_API_PORT']!;
  for (const name of NODES) {
    const host = await remoteHost({ bridge: true });
    const home = await mkdtemp(join(tmpdir(), 'aiflock-bench-node-'));
    const token = await f.api<IssuedJoinToken>('POST', '/v1/nodes/tokens', { singleUse: true });
    const child = nodeAgent(host, home, ['join', `http://${host.hostAddress}:${apiPort}`, '--token', token.token, '--name', name, '--label', 'pool=bench', '--runtime', 'process']);
    nodes.set(name, { host, home, child });
    await until(`node ${name} ready`, async () => (await node(f, name)).status === 'ready', 90_000);
    progress(`node ${name} joined from ${host.ns}`);
  }
  const results = await TaskResults.watch(f.nc);

  const runs: Run[] = [];
  for (let run = 0; run < RUNS; run++) {
    progress(`run ${run + 1}/${RUNS}`);
    const placed = {
      'control plane only': await placement(f, `place-cp-${run}`, 'cp'),
      'two joined nodes': await placement(f, `place-nodes-${run}`, 'nodes'),
    };
    const throughput = {} as Record<Layout, number>;
    // Rotated, so no layout always goes first.
    for (const layout of LAYOUTS.map((_, i) => LAYOUTS[(i + run) % LAYOUTS.length]!)) throughput[layout] = await echoThroughput(f, results, `tp-${run}`, layout);
    const death = await nodeDeath(f, `mover-${run}`, nodes);
    runs.push({ placed, throughput, death });
    progress(`run ${run + 1}: ${JSON.stringify(runs.at(-1))}`);
  }

  const s = (pick: (r: Run) => number) => spread(runs.map(pick));
  const summary = {
    options: { runs: RUNS, replicas: REPLICAS, tasks: TASKS, concurrency: CONCURRENCY, heartbeatMs: HEARTBEAT_MS, lostAfterMs: LOST_AFTER_MS, taskAckWaitMs: 4000 },
    machine: m,
    placement: {
      controlPlane: { perSecond: s((r) => r.placed['control plane only'].perSecond), runningMs: s((r) => r.placed['control plane only'].runningMs) },
      twoNodes: { perSecond: s((r) => r.placed['two joined nodes'].perSecond), runningMs: s((r) => r.placed['two joined nodes'].runningMs) },
    },
    throughput: Object.fromEntries(LAYOUTS.map((l) => [l, s((r) => r.throughput[l])])),
    ratios: {
      oneNodeVsSingleHost: s((r) => r.throughput['one joined node'] / r.throughput['control plane only']),
      twoNodesVsSingleHost: s((r) => r.throughput['two joined nodes'] / r.throughput['control plane only']),
    },
    death: { lostMs: s((r) => r.death.lostMs), replacedMs: s((r) => r.death.replacedMs) },
    runs,
  };
  const file = await writeResults('scale-out', summary);
  if (opts.json) return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(
    [
      `# Scale-out (median (min–max) of ${RUNS} runs)`,
      describeMachine(m),
      '',
      table(
        ['placement', `${REPLICAS} echo instances placed per second`, 'ms until all running'],
        [
          ['control plane host only', fmtSpread(summary.placement.controlPlane.perSecond), fmtSpread(summary.placement.controlPlane.runningMs)],
          ['spread over two joined nodes', fmtSpread(summary.placement.twoNodes.perSecond), fmtSpread(summary.placement.twoNodes.runningMs)],
        ],
      ),
      '',
      table(
        ['echo throughput (2 instances)', 'tasks/s', 'ratio to the single host'],
        [
          ['control plane host only', fmtSpread(summary.throughput['control plane only']!), '1'],
          ['one joined node', fmtSpread(summary.throughput['one joined node']!), fmtSpread(summary.ratios.oneNodeVsSingleHost)],
          ['two joined nodes', fmtSpread(summary.throughput['two joined nodes']!), fmtSpread(summary.ratios.twoNodesVsSingleHost)],
        ],
      ),
      '',
      table(
        ['node death (SIGKILL of its node agent)', 'ms'],
        [
          [`node marked lost (nodes.lostAfterMs ${LOST_AFTER_MS})`, fmtSpread(summary.death.lostMs)],
          ['2 replacements running on the other node', fmtSpread(summary.death.replacedMs)],
        ],
      ),
      '',
      `Raw figures: ${file}`,
      '',
    ].join('\n'),
  );
});

/** `aiflock node <args>` inside `host`'s network namespace only, in a process group of its own (SIGKILLed whole). */
function nodeAgent(host: RemoteHost, home: string, args: string[]): ChildProcess {
  const child = spawn('nsenter', [`--net=/run/netns/${host.ns}`, '--', process.execPath, CLI, 'node', ...args], { env: { PATH: process.env['PATH'] ?? '', AIFLOCK_HOME: home }, stdio: 'ignore', detached: true });
  child.unref();
  return child;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** A node as the API shows it; before its join lands it is not there yet (status "absent"). */
const node = (f: BenchFlock, name: string) => f.api<NodeInfo>('GET', `/v1/nodes/${name}`).catch(() => ({ status: 'absent' }) as const);
const agent = (f: BenchFlock, name: string) => f.api<AgentView>('GET', `/v1/agents/${name}`);
const setCordon = async (f: BenchFlock, name: string, on: boolean) => void (await f.api('POST', `/v1/nodes/${name}/${on ? 'cordon' : 'uncordon'}`));

/** Only `where` takes new instances: the control plane's host, or the joined nodes. */
async function only(f: BenchFlock, where: 'cp' | 'nodes' | (typeof NODES)[number]): Promise<void> {
  await setCordon(f, 'cp', where !== 'cp');
  for (const n of NODES) await setCordon(f, n, !(where === 'nodes' || where === n));
}

async function deploy(f: BenchFlock, name: string, replicas: number): Promise<void> {
  const manifest = `${await echoManifest(name, replicas)}\nplacement: { labels: { pool: bench } }\n`.replace(/^ {2}interval: .*$/m, '  interval: 1s');
  await f.api('POST', '/v1/agents', { manifest, filename: `${name}.agent.yaml` });
}

async function remove(f: BenchFlock, name: string): Promise<void> {
  await f.api('DELETE', `/v1/agents/${name}`);
  // Stopped sandboxes may keep their records a while (exit codes for people to see): only live ones count.
  await until(`${name}'s instances stopped`, async () => (await f.api<{ nodes: NodeInfo[] }>('GET', '/v1/nodes')).nodes.every((n) => !n.instances.some((i) => i.agent === name && (i.status === 'running' || i.status === 'starting'))), 180_000);
}

const running = (a: AgentView, n: number) => a.instances.filter((i) => i.status === 'running').length >= n;

/** From the deploy request to every instance recorded on a node (placed), and to every one running. */
async function placement(f: BenchFlock, name: string, where: 'cp' | 'nodes') {
  // The label the manifest asks for: the control plane's host gets it while it alone takes instances.
  await f.api('POST', '/v1/nodes/cp/labels', { labels: { pool: 'bench' } });
  await only(f, where);
  const t0 = performance.now();
  await deploy(f, name, REPLICAS);
  let placedMs = 0;
  await until(`${name}: ${REPLICAS} running`, async () => {
    const a = await agent(f, name);
    if (!placedMs && a.instances.length >= REPLICAS) placedMs = performance.now() - t0;
    return running(a, REPLICAS);
  }, 300_000);
  const runningMs = performance.now() - t0;
  const spreadOver = new Set((await agent(f, name)).instances.map((i) => i.node));
  if (where === 'nodes' && spreadOver.size !== NODES.length) throw new Error(`${name} was not spread over both nodes: ${[...spreadOver].join(', ')}`);
  await remove(f, name);
  return { placedMs, runningMs, perSecond: REPLICAS / (runningMs / 1000) };
}

/** TASKS echo tasks, CONCURRENCY in flight, to 2 instances laid out as `layout`; tasks per second. */
async function echoThroughput(f: BenchFlock, results: TaskResults, prefix: string, layout: Layout): Promise<number> {
  const name = `${prefix}-${LAYOUTS.indexOf(layout)}`;
  await only(f, layout === 'control plane only' ? 'cp' : layout === 'one joined node' ? NODES[0] : 'nodes');
  await deploy(f, name, 2);
  await until(`${name} running`, async () => running(await agent(f, name), 2), 300_000);
  const one = async (i: number) => {
    const t = await f.api<TaskView>('POST', '/v1/tasks', { agent: name, type: 'echo', input: { i } });
    const r = await results.wait(t.id, 120_000);
    if (r.result.status !== 'completed') throw new Error(`task ${t.id} ${r.result.status}`);
  };
  for (let i = 0; i < 10; i++) await one(i); // warm-up
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < TASKS) await one(next++);
  };
  await withTimeout(`${TASKS} tasks`, 300_000, Promise.all(Array.from({ length: Math.min(CONCURRENCY, TASKS) }, worker)));
  const perSecond = TASKS / ((performance.now() - t0) / 1000);
  await remove(f, name);
  return perSecond;
}

/** 2 instances on the second node; its node agent SIGKILLed; until both run on the first node. */
async function nodeDeath(f: BenchFlock, name: string, nodes: Map<string, { host: RemoteHost; home: string; child: ChildProcess }>) {
  const [survivor, victim] = NODES;
  await only(f, victim);
  await deploy(f, name, 2);
  await until(`${name} running on ${victim}`, async () => running(await agent(f, name), 2), 120_000);
  await only(f, survivor);
  const dying = nodes.get(victim)!;
  const t0 = performance.now();
  killGroup(dying.child);
  let lostMs = 0;
  await until(`${name} running on ${survivor}`, async () => {
    if (!lostMs && (await node(f, victim)).status === 'lost') lostMs = performance.now() - t0;
    const a = await agent(f, name);
    return a.instances.filter((i) => i.node === survivor && i.status === 'running').length === 2;
  }, 180_000);
  const replacedMs = performance.now() - t0;
  // The host comes back: its node agent from what the join saved, no new token.
  dying.child = nodeAgent(dying.host, dying.home, ['run']);
  await until(`node ${victim} back`, async () => (await node(f, victim)).status === 'ready', 90_000);
  await remove(f, name);
  return { lostMs, replacedMs };
}
