import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskBatchResponse, TaskView } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { phases } from '../testkit/phases.js';
import { startPostgres, type TestPostgres } from '../testkit/postgres.js';
import { storeRows, type Rows } from '../testkit/store-rows.js';

/**
 * Delivery guarantees under crashes (issue 4): 1,000 tasks in flight across 3 replicas while
 * an instance is SIGKILLed mid-task, the daemon is SIGKILLed and restarted, and nats-server
 * is restarted. Afterwards every task has exactly one final result: none lost, none applied
 * twice, each with its own output. On SQLite and on PostgreSQL (the store's group commit
 * differs: one connection there, several transactions side by side here). The tasks are
 * created with batch creates, at the rate the task path now takes them.
 */
const TASKS = 1_000;
const docker = new Dockerode();

const MANIFEST = `
name: worker
handlers: [shell]
tools: { shell: true }
replicas: 3
concurrency: 4
maxAttempts: 5
resources: { pids: 128, taskTimeout: 10m }
heartbeat: { interval: 2s }
`;

// PostgreSQL (initdb, start: tens of seconds on a loaded machine) starts while the SQLite run goes.
let postgresStarting: Promise<TestPostgres> | undefined;
beforeAll(() => {
  postgresStarting = startPostgres();
  // Awaited by the PostgreSQL run; a failure before then must not be an unhandled rejection.
  postgresStarting.catch(() => undefined);
});
afterAll(async () => {
  if (process.env['AIFLOCK_KEEP_CHAOS']) return;
  await (await postgresStarting?.catch(() => undefined))?.stop();
});

describe.each(['sqlite', 'postgres'] as const)('on %s', (backend) => {
  let flock: TestFlock;
  let postgres: TestPostgres | undefined;
  let rows: Rows;
  let phase = (_what: string): void => undefined;

  beforeAll(async () => {
    phase = phases(`chaos on ${backend}`);
    flock = await testFlock();
    let url: string | undefined;
    if (backend === 'postgres') {
      postgres = await postgresStarting!;
      url = (await postgres.createDatabase('chaos')).url;
      flock.env['AIFLOCK_STORE'] = 'postgres';
      flock.env['AIFLOCK_DATABASE_URL'] = url;
    }
    rows = storeRows(flock.home, url);
    // A short ack wait so work held by a killed instance comes back within seconds.
    flock.env['AIFLOCK_TASK_ACK_WAIT_MS'] = '4000';
    const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
    expect(up.code, up.stderr).toBe(0);
    phase('daemon up');
    const deployed = await flock.api('/v1/agents', { method: 'POST', body: { manifest: MANIFEST, filename: 'worker.agent.yaml' } });
    expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
    await eventually(async () => {
      const view = (await flock.api('/v1/agents/worker')).body as { replicas: { ready: number } };
      return view.replicas.ready === 3 ? true : undefined;
    }, 'three ready replicas', 240_000);
    phase('three replicas ready');
  }, 420_000);

  afterAll(async () => {
    if (process.env['AIFLOCK_KEEP_CHAOS']) return void process.stderr.write(`kept ${flock.home}\n`);
    phase('cleanup');
    await flock?.cleanup();
    phase('cleaned up');
  });

  const counts = async () => {
    const status = (await flock.api('/v1/status')).body as { tasks: Record<string, number> } | undefined;
    return status?.tasks ?? {};
  };

  /** Results on the bus not yet handed to the daemon's results consumer, from nats-server's own monitoring. */
  async function resultsWaiting(): Promise<number> {
    type Jsz = { account_details?: { stream_detail?: { name: string; consumer_detail?: { name: string; num_pending: number }[] }[] }[] };
    const jsz = (await (await fetch(`http://127.0.0.1:${flock.env['AIFLOCK_NATS_MONITOR_PORT']}/jsz?accounts=true&streams=true&consumers=true`)).json()) as Jsz;
    const stream = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((x) => x.name === 'FLOCK_RESULTS');
    return stream?.consumer_detail?.find((c) => c.name === 'daemon-results')?.num_pending ?? 0;
  }

  async function pidFile(file: string): Promise<number> {
    return Number((await readFile(join(flock.home, file), 'utf8').then((t) => (t.startsWith('{') ? String((JSON.parse(t) as { pid: number }).pid) : t))).trim());
  }

  it('gives every one of 1,000 tasks exactly one final result through instance, daemon and bus crashes', async () => {
    // Each task sleeps a little so that work is really in flight when things crash.
    const ids: string[] = [];
    for (let start = 0; start < TASKS; start += 250) {
      const tasks = Array.from({ length: Math.min(250, TASKS - start) }, (_, k) => start + k).map((n) => ({ agent: 'worker', type: 'shell', input: `sleep 0.3; echo task-${n}`, idempotencyKey: `chaos-${n}` }));
      const r = await flock.api('/v1/tasks:batch', { method: 'POST', body: { tasks } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const made = r.body as TaskBatchResponse;
      expect(made.failed, JSON.stringify(made.results.find((x) => !x.ok))).toBe(0);
      ids.push(...made.results.map((x) => (x.ok ? x.task.id : '')));
    }
    const completed = async () => (await counts())['completed'] ?? 0;
    phase(`${TASKS} tasks created`);

    // 1. SIGKILL an instance while it works on a task we know of.
    await eventually(async () => ((await completed()) >= 100 ? true : undefined), 'the first 100 tasks', 120_000);
    const inFlight = await eventually(async () => {
      const running = (await flock.api('/v1/tasks?agent=worker&status=running&limit=20')).body as { tasks: TaskView[] };
      return running.tasks.find((t) => t.instanceId);
    }, 'a running task');
    const [victim] = await docker.listContainers({ filters: { label: [`aiflock.instance=${inFlight.instanceId}`] } });
    await docker.getContainer(victim!.Id).kill({ signal: 'SIGKILL' });
    phase(`killed instance ${inFlight.instanceId} running ${inFlight.id}`);

    // 2. SIGKILL the daemon mid-flight; instances keep working and publishing results meanwhile.
    await eventually(async () => ((await completed()) >= 300 ? true : undefined), '300 tasks', 120_000);
    await flock.killDaemon();
    phase('killed the daemon');
    // A while without a daemon: results keep arriving on the bus and must wait there for it
    // (its results consumer's backlog grows by 20 more than it held at the kill).
    const waitingAtKill = await resultsWaiting();
    await eventually(async () => ((await resultsWaiting()) >= waitingAtKill + 20 ? true : undefined), `20 results more than the ${waitingAtKill} waiting on the bus for the stopped daemon`, 60_000);
    phase(`${await resultsWaiting()} results waiting on the bus (${waitingAtKill} at the kill)`);
    const again = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
    expect(again.code, again.stderr).toBe(0);
    phase('daemon up again');

    // 3. Restart nats-server; clients reconnect, the daemon's supervisor starts it again.
    await eventually(async () => ((await completed()) >= 600 ? true : undefined), '600 tasks', 180_000);
    const natsPid = await pidFile(join('nats', 'nats.pid'));
    process.kill(natsPid, 'SIGTERM');
    await eventually(async () => {
      const pid = await pidFile(join('nats', 'nats.pid')).catch(() => natsPid);
      return pid !== natsPid ? true : undefined;
    }, 'nats-server to be restarted', 60_000);
    phase('nats-server restarted');

    // Everything finishes.
    await eventually(async () => ((await completed()) === TASKS ? true : undefined), `all ${TASKS} tasks completed (saw ${JSON.stringify(await counts())})`, 300_000);

    phase(`all ${TASKS} completed`);
    // Exactly one final result each: read the store itself.
    const tasks = (await rows(`select id, status, output, attempt from tasks where agent = 'worker'`)) as { id: string; status: string; output: string; attempt: number }[];
    expect(tasks).toHaveLength(TASKS);
    expect(new Set(tasks.map((r) => r.id))).toEqual(new Set(ids));
    const byId = new Map(tasks.map((r) => [r.id, r]));
    ids.forEach((id, n) => {
      const row = byId.get(id)!;
      expect(row.status, id).toBe('completed');
      expect((JSON.parse(row.output) as { stdout: string }).stdout.trim(), id).toBe(`task-${n}`);
    });
    // The finishing transition happened once per task, never twice (a late duplicate is only noted).
    const finals = (await rows(`select task_id, count(*) as n from logs where agent = 'worker' and msg = 'task completed' group by task_id`)).map((f) => ({ task_id: f['task_id'], n: Number(f['n']) }));
    expect(finals).toHaveLength(TASKS);
    expect(finals.filter((f) => f.n !== 1)).toEqual([]);
    // The task the killed instance was running went to another delivery, counted as such
    // (unless it had finished in the instant before the kill).
    const killed = byId.get(inFlight.id)!;
    const [started] = await rows(`select count(*) as n from logs where task_id = ? and msg like 'task started on %'`, inFlight.id);
    if (Number(started!['n']) > 1) expect(killed.attempt).toBeGreaterThan(1);
    expect(tasks.some((r) => r.attempt > 1), 'no task was ever redelivered').toBe(true);
    // The audit chain links every entry written through the crashes.
    const verify = await flock.cli(['audit', 'verify', '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    phase('checked');
  }, 900_000);
});
