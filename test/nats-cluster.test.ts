import { join } from 'node:path';
import Dockerode from 'dockerode';
import { connect, credsAuthenticator } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, SystemStatus, TaskBatchResponse, TaskView } from '@aiflock/protocol';
import { deployYaml, upFlock } from '../testkit/agents.js';
import { execIn } from '../testkit/docker.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { natsCluster, type ClusterMember, type TestNatsCluster } from '../testkit/nats-cluster.js';
import { phases } from '../testkit/phases.js';
import { startPostgres, type TestPostgres } from '../testkit/postgres.js';
import { storeRows, type Rows } from '../testkit/store-rows.js';

/**
 * A flock on a three-server NATS cluster (issue 17), its control plane on PostgreSQL as on
 * several hosts: `aiflock nats cluster` writes the servers' configs, the daemon is given all
 * three in NATS_URL, its streams are replicated on all three,
 * a server SIGKILLed with tasks in flight loses none and runs none twice, and a revoked
 * credential is refused by every server, one that was down at the time included.
 */
const docker = new Dockerode();
let flock: TestFlock;
let cluster: TestNatsCluster;
let postgres: TestPostgres;
let rows: Rows;
const phase = phases('nats-cluster');

const MANIFEST = `
handlers: [shell]
tools: { shell: true }
replicas: 2
concurrency: 4
maxAttempts: 5
heartbeat: { interval: 2s }
`;

interface TaskRow {
  id: string;
  status: string;
  output: string;
  attempt: number;
}
interface StreamDetail {
  name: string;
  config: { num_replicas: number };
  cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] };
}
interface Jsz {
  account_details?: { stream_detail?: StreamDetail[] }[];
}

const completed = async (): Promise<number> => ((await flock.api('/v1/status')).body as { tasks: Record<string, number> }).tasks['completed'] ?? 0;

const streamsOn = async (m: ClusterMember): Promise<StreamDetail[]> =>
  ((await m.monitor<Jsz>('/jsz?accounts=true&streams=true&config=true')).account_details ?? []).flatMap((a) => a.stream_detail ?? []);

/** Try `creds` against one server alone: null when it lets them in, else its refusal. */
async function refusalOf(m: ClusterMember, creds: string): Promise<string | null> {
  try {
    const nc = await connect({ servers: m.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), reconnect: false, timeout: 5_000 });
    await nc.flush();
    await nc.close();
    return null;
  } catch (err) {
    return String(err);
  }
}

beforeAll(async () => {
  flock = await testFlock();
  // PostgreSQL and the cluster's ports and store do not depend on each other: made side by side.
  [postgres, cluster] = await Promise.all([startPostgres(), natsCluster()]);
  const url = (await postgres.createDatabase('cluster')).url;
  flock.env['AIFLOCK_STORE'] = 'postgres';
  flock.env['AIFLOCK_DATABASE_URL'] = url;
  rows = storeRows(flock.home, url);
  const written = await flock.cli(['nats', 'cluster', ...cluster.cliArgs, '--json']);
  expect(written.code, written.stderr).toBe(0);
  const out = JSON.parse(written.stdout) as { cluster: string; natsUrl: string; files: { server: string; file: string }[] };
  expect(out.files.map((f) => f.server)).toEqual(cluster.members.map((m) => m.name));
  await cluster.start();
  phase('cluster up');
  flock.env['NATS_URL'] = out.natsUrl;
  // A short ack wait, so a delivery lost with a server comes back within seconds.
  flock.env['AIFLOCK_TASK_ACK_WAIT_MS'] = '4000';
  await upFlock(flock);
  phase('control plane up');
  await deployYaml(flock, 'worker', MANIFEST);
  await eventually(async () => ((await flock.api('/v1/agents/worker')).body as AgentView).replicas.ready === 2 || undefined, 'two ready replicas', 120_000);
  phase('two replicas ready');
}, 300_000);

afterAll(async () => {
  phase('cleanup');
  await flock?.cleanup();
  await Promise.all([cluster?.stop(), postgres?.stop()]);
  phase('cleaned up');
});

describe('aiflock nats cluster', () => {
  it('refuses fewer than three servers, and a layout that reuses an address', async () => {
    const [a, b] = cluster.members;
    const two = await flock.cli(['nats', 'cluster', '--server', a!.spec, '--server', b!.spec, '--out', join(flock.home, 'two')]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/at least three --server/);
    const clash = await flock.cli(['nats', 'cluster', '--server', 'x=127.0.0.1:4001:5001', '--server', 'y=127.0.0.1:4001:5002', '--server', 'z=127.0.0.1:4003:5003', '--out', join(flock.home, 'clash')]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/share a host:port/);
  });
});

it('runs the flock on the cluster, its streams and stores replicated on all three servers', async () => {
  const status = await flock.cliJson<SystemStatus>(['status']);
  expect(status.checks['bus']).toMatchObject({ ok: true });
  const t = await flock.cliJson<TaskView>(['task', 'run', 'worker', '--type', 'shell', '--input', 'echo on-the-cluster', '--wait']);
  expect(t.status).toBe('completed');
  const streams = await streamsOn(cluster.members[0]!);
  const names = streams.map((s) => s.name);
  expect(names).toEqual(expect.arrayContaining(['FLOCK_TASKS', 'FLOCK_RESULTS', 'FLOCK_EVENTS', 'FLOCK_DEAD_LETTERS', 'OBJ_aiflock-manifests']));
  for (const s of streams) expect(s.config.num_replicas, s.name).toBe(3);
  // Every server holds a copy of each (a server's monitoring lists the streams it stores).
  for (const m of cluster.members.slice(1)) expect((await streamsOn(m)).map((s) => s.name).sort(), m.name).toEqual([...names].sort());
});

it('loses no task and runs none twice when a server is SIGKILLed with tasks in flight', async () => {
  const TASKS = 120;
  const before = await completed();
  const tasks = Array.from({ length: TASKS }, (_, n) => ({ agent: 'worker', type: 'shell', input: `sleep 0.2; echo task-${n}`, idempotencyKey: `cluster-${n}` }));
  const r = await flock.api('/v1/tasks:batch', { method: 'POST', body: { tasks } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const ids = (r.body as TaskBatchResponse).results.map((x) => (x.ok ? x.task.id : ''));
  await eventually(async () => ((await completed()) >= before + 30 ? true : undefined), 'the first tasks', 120_000);
  // The sandboxes use the first server (their host's); the one to lose is the leader of the
  // task stream when another server leads it, else the one the daemon is connected to.
  const tasksStream = (await streamsOn(cluster.members[0]!)).find((s) => s.name === 'FLOCK_TASKS')!;
  const others = cluster.members.slice(1);
  const daemonOn = await Promise.all(others.map(async (m) => ((await m.monitor<{ connections: { name?: string }[] }>('/connz')).connections.some((c) => c.name === 'aiflock-daemon') ? m : null)));
  const victim = others.find((m) => m.name === tasksStream.cluster?.leader) ?? daemonOn.find((m) => m !== null) ?? others[0]!;
  await victim.kill('SIGKILL');
  phase(`killed nats-server ${victim.name} (task stream leader: ${tasksStream.cluster?.leader})`);
  try {
    await outlive(ids, before);
  } finally {
    await victim.start();
  }
}, 400_000);

/** Every task of `ids` completes once, with its own output, delivered once; the flock then still serves. */
async function outlive(ids: string[], before: number): Promise<void> {
  const TASKS = ids.length;
  await eventually(async () => ((await completed()) >= before + TASKS ? true : undefined), `all ${TASKS} tasks completed`, 240_000);
  const found = (await rows(`select id, status, output, attempt from tasks where agent = 'worker' and id in (${ids.map(() => '?').join(',')})`, ...ids)) as unknown as TaskRow[];
  expect(found).toHaveLength(TASKS);
  const byId = new Map(found.map((x) => [x.id, x]));
  ids.forEach((id, n) => {
    expect(byId.get(id)?.status, id).toBe('completed');
    expect((JSON.parse(byId.get(id)!.output) as { stdout: string }).stdout.trim(), id).toBe(`task-${n}`);
  });
  const count = async (msg: string) =>
    new Map(((await rows(`select task_id, count(*) as n from logs where agent = 'worker' and msg like ? group by task_id`, msg)) as { task_id: string; n: number | string }[]).map((x) => [x.task_id, Number(x.n)]));
  const finals = await count('task completed');
  expect(ids.filter((id) => finals.get(id) !== 1), 'tasks not completed exactly once').toEqual([]);
  // Delivered once each: no attempt after the first (an instance's start event that the
  // daemon reads twice, its ack lost with the server, is the same start and counts once).
  const again = found.filter((x) => Number(x.attempt) !== 1);
  // Say how: each such task's own log (starts, claims, results) from the store.
  const how = again.length === 0 ? [] : ((await rows(`select ts, instance_id, task_id, msg from logs where task_id in (${again.map(() => '?').join(',')}) order by ts`, ...again.map((x) => x.id))) as { ts: string; instance_id: string; task_id: string; msg: string }[]);
  expect(again.map((x) => `${x.id}: attempt ${x.attempt}`), `tasks delivered more than once:\n${how.map((l) => `${l.ts} ${l.task_id} ${l.instance_id}: ${l.msg}`).join('\n')}`).toEqual([]);
  // The flock keeps serving on two servers, and takes the third back.
  const t = await flock.cliJson<TaskView>(['task', 'run', 'worker', '--type', 'shell', '--input', 'echo two-of-three', '--wait']);
  expect(t.status).toBe('completed');
}

describe('revocation across the cluster', () => {
  it('refuses revoked operator credentials on every server', async () => {
    const issued = await flock.cliJson<{ id: string; creds: string }>(['nats', 'creds', '--name', 'cluster-test', '--ttl', '600']);
    // Valid credentials are let in everywhere: the refusal below is the revocation's doing.
    for (const m of cluster.members) expect(await eventually(async () => ((await refusalOf(m, issued.creds)) === null ? true : undefined), `${m.name} to accept valid credentials`)).toBe(true);
    const revoked = await flock.cli(['nats', 'revoke-creds', issued.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    for (const m of cluster.members) expect(await refusalOf(m, issued.creds), m.name).toMatch(/Authorization Violation|revoked/i);
  });

  it('refuses a removed agent’s instance credentials on every server, one that was down at the time included', async () => {
    const view = (await flock.api('/v1/agents/worker')).body as { instances: { id: string; status: string }[] };
    const instance = view.instances.find((i) => i.status === 'running')!;
    const [c] = await docker.listContainers({ filters: { label: [`aiflock.instance=${instance.id}`] } });
    const creds = (await execIn(docker.getContainer(c!.Id), ['cat', '/run/aiflock/nats.creds'])).stdout;
    expect(creds).toMatch(/BEGIN NATS USER JWT/);
    for (const m of cluster.members) expect(await refusalOf(m, creds), m.name).toBeNull();

    const away = cluster.members[2]!;
    await away.kill('SIGKILL');
    const removed = await flock.cli(['agent', 'remove', 'worker']);
    expect(removed.code, removed.stderr).toBe(0);
    // The instances go when the reconciler removes them, after `agent remove` answers.
    await flock.logShowing(`revoked the bus credentials of ${instance.id}`);
    for (const m of cluster.members.slice(0, 2)) expect(await refusalOf(m, creds), m.name).toMatch(/Authorization Violation|revoked/i);
    // Back with the account as it was before: the control plane sees it and pushes the revocation.
    await away.start();
    await eventually(async () => ((await refusalOf(away, creds)) !== null ? true : undefined), `${away.name}, back, to refuse the revoked key`, 60_000);
    await flock.logShowing(new RegExp(`NATS server\\(s\\) ${away.name} now have the current revocations`));
    expect(await refusalOf(away, creds)).toMatch(/Authorization Violation|revoked/i);
  });
});
