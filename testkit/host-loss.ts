import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentView, IssuedJoinToken, NodeInfo, TaskBatchResponse } from '@aiflock/protocol';
import { runtimeScope } from '../packages/daemon/src/node-agent/node-runtime.js';
import { upFlock } from './agents.js';
import { CLI } from './cli.js';
import { eventually, testFlock, type TestFlock } from './flock.js';
import { lan, type Lan, type LanHost } from './lan.js';
import { natsCluster, type ClusterMember, type TestNatsCluster } from './nats-cluster.js';
import { removeNodeLeftovers } from './node-leftovers.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { storeRows, type Rows } from './store-rows.js';

/**
 * Losing a host of three with tasks in flight (issue 17), shared by test/nodes-chaos.test.ts
 * (which proves every task ends exactly once, at a size that proves it) and
 * bench/nodes-chaos.ts (which measures kill → replacement at 1,000 tasks). Three "hosts" on one
 * switched network of the test's own (testkit/lan.ts), each running a nats-server of the
 * flock's cluster (JetStream R3) and a joined node agent whose bubblewrap sandboxes dial their
 * own host's server; the control plane on the test machine, on PostgreSQL. An agent's six
 * replicas spread two per host. Once `killAt` tasks have completed, the host whose server leads
 * the task stream dies whole: every process in its namespace (its node agent and its
 * nats-server) and every sandbox in its cgroups, SIGKILLed at once.
 */
export const REPLICAS = 6;
export const NODES = ['h1', 'h2', 'h3'];
/** Heartbeats every second and a node lost after 15 s of silence: with 5 s, node agents starved of CPU while starting sandboxes on a loaded CI machine were judged lost. */
export const SETTINGS = { lostAfterMs: 15000, heartbeatMs: 1000, reconcileIntervalMs: 5000 };

const MANIFEST = `name: worker
handlers: [shell]
tools: { shell: true }
replicas: ${REPLICAS}
concurrency: 4
maxAttempts: 5
placement: { labels: { pool: chaos } }
resources: { cpu: 0.25, memory: 128Mi, pids: 128, taskTimeout: 5m }
heartbeat: { interval: 1s }
`;

export interface HostLossSetup {
  net: Lan;
  flock: TestFlock;
  cluster: TestNatsCluster;
  rows: Rows;
  agentView(): Promise<AgentView>;
  /** Completed tasks, counted in the store itself (the status endpoint is slow on a loaded machine). */
  completed(): Promise<number>;
  close(): Promise<void>;
}

/** The lan, PostgreSQL, the cluster, the control plane, three joined nodes and the agent's six ready replicas. */
export async function startHostLoss(phase: (what: string) => void): Promise<HostLossSetup> {
  const nodeAgents: { child: ChildProcess; home: string; out: string }[] = [];
  let flock: TestFlock | undefined;
  let cluster: TestNatsCluster | undefined;
  let postgres: TestPostgres | undefined;
  let net: Lan | undefined;
  const close = async () => {
    phase('cleanup');
    // The control plane first, while the nodes still answer: it stops their sandboxes and leaves.
    await flock?.cleanup();
    phase('control plane down');
    for (const a of nodeAgents) {
      try {
        process.kill(-a.child.pid!, 'SIGKILL');
      } catch {
        // Gone with its host.
      }
    }
    await net?.close();
    if (flock) for (const name of NODES) await removeNodeLeftovers(flock.name, name);
    for (const a of nodeAgents) await rm(a.home, { recursive: true, force: true });
    await Promise.all([cluster?.stop(), postgres?.stop()]);
    phase('cleaned up');
  };
  try {
    // The network and PostgreSQL do not depend on each other: made side by side.
    [net, postgres] = await Promise.all([lan(3), startPostgres()]);
    const url = (await postgres.createDatabase('nodes_chaos')).url;
    // The API on every address, so the hosts reach it on the test's network; a short ack
    // wait, so the tasks a dead host held come back within seconds.
    flock = await testFlock({
      env: {
        AIFLOCK_API_HOST: '0.0.0.0',
        AIFLOCK_NODE: 'cp',
        AIFLOCK_NODE_HEARTBEAT_MS: String(SETTINGS.heartbeatMs),
        AIFLOCK_NODE_LOST_AFTER_MS: String(SETTINGS.lostAfterMs),
        AIFLOCK_TASK_ACK_WAIT_MS: '4000',
        AIFLOCK_STORE: 'postgres',
        AIFLOCK_DATABASE_URL: url,
      },
    });
    const f = flock;
    const rows = storeRows(f.home, url);
    cluster = await natsCluster(3, net.hosts);
    const written = await f.cli(['nats', 'cluster', ...cluster.cliArgs, '--json']);
    if (written.code !== 0) throw new Error(`aiflock nats cluster exited ${written.code}: ${written.stderr}`);
    await cluster.start();
    phase('cluster up');
    // The control plane dials the whole list; the nodes are handed the same list and each puts
    // its own host's server first.
    f.env['NATS_URL'] = (JSON.parse(written.stdout) as { natsUrl: string }).natsUrl;
    await upFlock(f);
    phase('control plane up');

    const token = (await f.api('/v1/nodes/tokens', { method: 'POST', body: { ttlSeconds: 600 } })).body as IssuedJoinToken;
    const lanNet = net;
    const joinNode = async (host: LanHost, name: string) => {
      const home = await mkdtemp(join(tmpdir(), 'aiflock-node-'));
      // `aiflock node join` inside the host's network namespace, over the test's network to the control plane's API.
      const apiUrl = `http://${lanNet.hostAddress}:${f.env['AIFLOCK_API_PORT']}`;
      const args = [`--net=/run/netns/${host.ns}`, '--', process.execPath, CLI, 'node', 'join', apiUrl, '--token', token.token, '--name', name, '--label', 'pool=chaos', '--runtime', 'process'];
      const child = spawn('nsenter', args, { env: { PATH: process.env['PATH'] ?? '', AIFLOCK_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const a = { child, home, out: '' };
      child.stdout!.on('data', (d: Buffer) => (a.out = (a.out + d.toString()).slice(-4000)));
      child.stderr!.on('data', (d: Buffer) => (a.out = (a.out + d.toString()).slice(-4000)));
      nodeAgents.push(a);
    };
    await Promise.all(NODES.map((name, i) => joinNode(lanNet.hosts[i]!, name)));
    await Promise.all(
      NODES.map((name) =>
        eventually(async () => ((await f.api(`/v1/nodes/${name}`)).body as NodeInfo).status === 'ready' || undefined, `node ${name} ready`, 90_000).catch((err: Error) => {
          throw new Error(`${err.message}; the node agents said: ${nodeAgents.map((a) => a.out).join('\n')}`);
        }),
      ),
    );
    phase('nodes ready');
    const agentView = async () => (await f.api('/v1/agents/worker')).body as AgentView;
    const file = join(f.home, 'worker.agent.yaml');
    await writeFile(file, MANIFEST);
    const deployed = await f.cli(['agent', 'deploy', file]);
    if (deployed.code !== 0) throw new Error(`aiflock agent deploy exited ${deployed.code}: ${deployed.stderr}`);
    await eventually(async () => ((await agentView()).replicas.ready === REPLICAS ? true : undefined), `${REPLICAS} ready replicas`, 120_000);
    phase('replicas ready');
    const completed = async () => Number((await rows(`select count(*) as n from tasks where agent = 'worker' and status = 'completed'`))[0]!['n']);
    return { net, flock: f, cluster, rows, agentView, completed, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** Instance id → the server (cluster member) its bus connection is on, from each server's own monitoring. */
export async function connectionsByServer(members: ClusterMember[]): Promise<Map<string, string>> {
  const on = new Map<string, string>();
  for (const m of members.filter((x) => x.running())) {
    for (const c of (await m.monitor<{ connections?: { name?: string }[] }>('/connz?limit=1000')).connections ?? []) if (c.name) on.set(c.name, m.name);
  }
  return on;
}

/**
 * The processes of each sandbox a node runtime made (instance id → pids), from its cgroups:
 * cgroup v2's one tree, or v1's pids hierarchy. Bubblewrap sandboxes have network namespaces
 * of their own, so the host's namespace does not list them.
 */
export function sandboxPids(scope: string): Map<string, number[]> {
  const dir = existsSync('/sys/fs/cgroup/cgroup.controllers') ? `/sys/fs/cgroup/aiflock-${scope}` : `/sys/fs/cgroup/pids/aiflock-${scope}`;
  const groups = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
  const procs = (g: string) => (existsSync(join(dir, g, 'cgroup.procs')) ? readFileSync(join(dir, g, 'cgroup.procs'), 'utf8').split(/\s+/).filter(Boolean).map(Number) : []);
  return new Map(groups.map((g) => [g.name, procs(g.name)] as const).filter(([, p]) => p.length > 0));
}

export interface TaskRow {
  id: string;
  status: string;
  output: string;
  attempt: number | string;
}

export interface HostLoss {
  /** The tasks' ids, task n's output being `task-<n>`. */
  ids: string[];
  victim: string;
  /** The lost host's instances before the kill, and the ones placed elsewhere after it. */
  lostInstances: string[];
  sandboxesKilled: string[];
  before: AgentView;
  moved: AgentView;
  killedAt: number;
  /** Kill → lost, placed, running, ready, all done (ms), and what was done at the kill. */
  figures: Record<string, unknown>;
  /** Every task's row and its count of finishing transitions, from the store. */
  found: TaskRow[];
  finals: Map<string, number>;
  /** Tasks run more than once, sorted by why: started on the lost host, or every start after the kill, or neither. */
  again: TaskRow[];
  onLostHost: TaskRow[];
  heldThere: TaskRow[];
  unexplained: TaskRow[];
  startsOf(id: string): { task_id: string; instance_id: string; ts: string; msg: string }[];
}

/**
 * `tasks` tasks (`sleep 0.5; echo task-<n>`) in batches; once `killAt` have completed, the
 * host leading the task stream dies; then waits for it to be lost, its instances to run
 * elsewhere and every task to complete, and reads back what the store holds. Times are
 * measured, never asserted (the machine's load decides them).
 */
export async function loseHost(s: HostLossSetup, opts: { tasks: number; killAt: number; idempotencyPrefix: string }, phase: (what: string) => void): Promise<HostLoss> {
  const { flock, cluster, net, rows, agentView, completed } = s;
  const ids: string[] = [];
  for (let start = 0; start < opts.tasks; start += 250) {
    const tasks = Array.from({ length: Math.min(250, opts.tasks - start) }, (_, k) => start + k).map((n) => ({ agent: 'worker', type: 'shell', input: `sleep 0.5; echo task-${n}`, idempotencyKey: `${opts.idempotencyPrefix}-${n}` }));
    const r = await flock.api('/v1/tasks:batch', { method: 'POST', body: { tasks } });
    const made = r.body as TaskBatchResponse;
    if (r.status !== 200 || made.failed !== 0) throw new Error(`creating tasks: HTTP ${r.status} ${JSON.stringify(r.status === 200 ? made.results.find((x) => !x.ok) : r.body)}`);
    ids.push(...made.results.map((x) => (x.ok ? x.task.id : '')));
  }
  phase(`${opts.tasks} tasks created`);
  const progress = setInterval(() => void completed().then((n) => phase(`${n} completed`), () => undefined), 10_000);
  try {
    await eventually(async () => ((await completed()) >= opts.killAt ? true : undefined), `the first ${opts.killAt} tasks`, 120_000);

    // The host to lose: the one whose server leads the task stream (its leader must move too).
    const jsz = await cluster.members[0]!.monitor<{ account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[] }>('/jsz?accounts=true&streams=true');
    const leader = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((x) => x.name === 'FLOCK_TASKS')?.cluster?.leader;
    const v = Math.max(0, cluster.members.findIndex((m) => m.name === leader));
    const [victim, victimHost, victimServer] = [NODES[v]!, net.hosts[v]!, cluster.members[v]!];
    const before = await agentView();
    const lostInstances = before.instances.filter((i) => i.node === victim).map((i) => i.id);
    const doneAtKill = await completed();

    // The host dies: its sandboxes (everything in the node runtime's cgroups) and every process
    // in its namespace (the node agent, its nats-server), all SIGKILLed at once.
    const sandboxes = sandboxPids(runtimeScope(flock.name, victim));
    const pids = [...sandboxes.values()].flat().concat(net.pids(victimHost));
    const killedAt = Date.now();
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    phase(`killed host ${victim} (nats-server ${victimServer.name}, task stream leader ${leader}; ${pids.length} processes, ${sandboxes.size} sandboxes) at ${doneAtKill} of ${opts.tasks} tasks completed`);
    await eventually(async () => (!victimServer.running() && net.pids(victimHost).length === 0 && [...sandboxPids(runtimeScope(flock.name, victim)).values()].flat().length === 0 ? true : undefined), `host ${victim} dead`, 30_000);

    // Lost, then its instances running on the others.
    await eventually(async () => ((await flock.api(`/v1/nodes/${victim}`)).body as NodeInfo).status === 'lost' || undefined, `${victim} lost`, 60_000);
    const lostAfterMs = Date.now() - killedAt;
    phase(`${victim} lost`);
    const elsewhere = (a: AgentView) => a.instances.filter((i) => i.node !== victim && i.status === 'running').length === REPLICAS && !a.instances.some((i) => i.node === victim);
    const moved = await eventually(async () => {
      const a = await agentView();
      return elsewhere(a) ? a : undefined;
    }, `${REPLICAS} instances running off ${victim}`, 120_000);
    const runningElsewhereMs = Date.now() - killedAt;
    await eventually(async () => ((await agentView()).replicas.ready === REPLICAS ? true : undefined), `${REPLICAS} ready replicas`, 120_000);
    const readyElsewhereMs = Date.now() - killedAt;
    phase(`${REPLICAS} ready replicas off ${victim}`);
    const replacements = moved.instances.filter((i) => !before.instances.some((b) => b.id === i.id));
    // When the control plane placed them (its log): the rest of the time is their sandboxes starting.
    const placedAt = await Promise.all(
      replacements.map(async (i) => {
        const line = (await flock.logShowing(`started instance ${i.id} on node`)).split('\n').find((l) => l.includes(`started instance ${i.id} on node`))!;
        return Date.parse((JSON.parse(line) as { ts: string }).ts);
      }),
    );
    const placedMs = Math.max(...placedAt) - killedAt;

    await eventually(async () => ((await completed()) >= opts.tasks ? true : undefined), `all ${opts.tasks} tasks completed`, 180_000);
    const allDoneMs = Date.now() - killedAt;
    phase(`all ${opts.tasks} completed`);

    // What the store holds: each task's row, and its log of finishing transitions.
    const found = (await rows(`select id, status, output, attempt from tasks where agent = 'worker'`)) as unknown as TaskRow[];
    const finals = new Map(((await rows(`select task_id, count(*) as n from logs where agent = 'worker' and msg = 'task completed' group by task_id`)) as { task_id: string; n: number | string }[]).map((x) => [x.task_id, Number(x.n)]));
    // Each task delivered more than once should be the lost host's: it started on one of its
    // instances, or its every start came after the kill (the earlier delivery was held there,
    // not yet started, or went with its nats-server). A task started before the kill elsewhere
    // and again later would be one run twice.
    const again = found.filter((x) => Number(x.attempt) !== 1);
    const starts = again.length === 0 ? [] : ((await rows(`select task_id, instance_id, ts, msg from logs where msg like 'task started on %' and task_id in (${again.map(() => '?').join(',')}) order by ts`, ...again.map((x) => x.id))) as { task_id: string; instance_id: string; ts: string; msg: string }[]);
    const startsOf = (id: string) => starts.filter((x) => x.task_id === id);
    const onLostHost = again.filter((x) => startsOf(x.id).some((st) => lostInstances.includes(st.instance_id)));
    const heldThere = again.filter((x) => !onLostHost.includes(x) && startsOf(x.id).every((st) => Date.parse(st.ts) >= killedAt));
    const unexplained = again.filter((x) => !onLostHost.includes(x) && !heldThere.includes(x));

    const figures = { tasks: opts.tasks, replicas: REPLICAS, completedAtKill: doneAtKill, rerun: { total: again.length, startedOnLostHost: onLostHost.length, deliveredThereFirstStartedAfter: heldThere.length }, nodeLostAfterMs: lostAfterMs, placedElsewhereMs: placedMs, runningElsewhereMs, readyElsewhereMs, allDoneMs, settings: SETTINGS, at: new Date().toISOString() };
    // The host's server comes back with its store (the cluster takes it in again), so the
    // control plane's `down` does not wait on a server of its list that never answers.
    await victimServer.start();
    return { ids, victim, lostInstances, sandboxesKilled: [...sandboxes.keys()], before, moved, killedAt, figures, found, finals, again, onLostHost, heldThere, unexplained, startsOf };
  } finally {
    clearInterval(progress);
  }
}
