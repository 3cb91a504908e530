import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentEvent, Heartbeat, STREAMS, subjects, taskConsumerName, taskPullRequest, TaskResult, type RuntimeEnv } from '@aiflock/protocol';
import { defineAgent, echo, runAgent, shell, type AgentHandle, type Handler, type RunAgentOptions } from '../src/index.js';
import { addQueue, Collector, unbatched, waitForQueue, enqueue, makeEnv, makeTask, newAgent, startPlane, type Plane } from './harness.js';

let plane: Plane;
const running: AgentHandle[] = [];
const collectors: Collector[] = [];

beforeAll(async () => {
  plane = await startPlane();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
  for (const c of collectors.splice(0)) c.close();
});
afterAll(async () => {
  await plane?.close();
});

/** An agent whose `hold` tasks run until the test releases them; `peak()`: most running at once. */
async function startHolding(concurrency: number) {
  let active = 0;
  let most = 0;
  const releases: Array<() => void> = [];
  const a = await start({ AIFLOCK_CONCURRENCY: concurrency, AIFLOCK_HANDLERS: ['hold'] }, {
    hold: async () => {
      active++;
      most = Math.max(most, active);
      await new Promise<void>((r) => releases.push(r));
      active--;
      return 'ok';
    },
  });
  return { a, releases, peak: () => most };
}

/** Until the agent's queue holds nothing, delivered or not. */
async function untilAcknowledged(agent: string): Promise<void> {
  const consumer = async () => plane.jsm.consumers.info(STREAMS.tasks.name, taskConsumerName(agent));
  for (const until = Date.now() + 10_000; (await consumer()).num_ack_pending > 0 || (await consumer()).num_pending > 0; await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > until) throw new Error(`the queue of ${agent} still holds a task`);
  }
}

/** The events JetStream stored from one instance (what the control plane reads), not what went over the wire. */
async function storedEvents(instanceId: string): Promise<AgentEvent[]> {
  const consumer = await plane.js.consumers.get(STREAMS.events.name, { filterSubjects: subjects.events(instanceId) });
  const out: AgentEvent[] = [];
  const batch = await consumer.fetch({ max_messages: 1000, expires: 1_000 });
  for await (const m of batch) {
    out.push(...(unbatched(m.json<unknown>()) as AgentEvent[]));
    if (m.info.pending === 0) break;
  }
  return out;
}

function collect<T>(subject: string): Collector<T> {
  const c = new Collector<T>(plane.nc, subject);
  collectors.push(c as Collector);
  return c;
}

async function start(
  extraEnv: Partial<RuntimeEnv> = {},
  handlers: Record<string, Handler> = { echo, shell },
  opts: RunAgentOptions = {},
) {
  const ids = newAgent();
  await addQueue(plane.jsm, ids.agent);
  const env = makeEnv(plane.server.url, ids, extraEnv);
  const results = collect<TaskResult>(subjects.results(ids.instanceId));
  const events = collect<AgentEvent>(subjects.events(ids.instanceId));
  await plane.nc.flush();
  const handle = runAgent(defineAgent({ handlers }), env, { logToStdout: false, stopGraceMs: 2_000, ...opts });
  running.push(handle);
  await handle.ready;
  return { ...ids, env, handle, results, events };
}

describe('runAgent', () => {
  it('runs an echo task and stores a schema-valid result in JetStream', async () => {
    const a = await start();
    const task = makeTask(a.agent, 'echo', { hello: 'world' });
    await enqueue(plane.js, task);

    const raw = await a.results.wait((r) => r.taskId === task.id, 10_000, 'echo result');
    const result = TaskResult.parse(raw);
    expect(result).toMatchObject({ status: 'completed', agentId: a.instanceId, attempt: 1, result: '{"hello":"world"}' });
    expect(result.output).toEqual({ hello: 'world' });

    // Stored by JetStream (not just published), with the dedup id the control plane relies on.
    const stored = await plane.jsm.streams.getMessage(STREAMS.results.name, { last_by_subj: subjects.results(a.instanceId) });
    expect(stored.header.get('Nats-Msg-Id')).toBe(`${task.id}:1`);
    expect(TaskResult.parse(stored.json()).taskId).toBe(task.id);

    // The task was acknowledged: the work queue is empty.
    const info = await waitForQueue(plane.jsm, a.agent, (i) => i.num_ack_pending === 0);
    expect(info.num_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq);

    const started = await a.events.wait((e) => e.type === 'task.started' && e.taskId === task.id, 5_000, 'task.started');
    expect(AgentEvent.parse(started)).toMatchObject({ attempt: 1 });
    const ready = await a.events.wait((e) => e.type === 'lifecycle' && e.phase === 'ready', 5_000, 'ready');
    expect(AgentEvent.parse(ready)).toMatchObject({ handlers: ['echo', 'shell'] });
  });

  it('echoes a string input as the result text', async () => {
    const a = await start();
    const task = makeTask(a.agent, 'echo', 'plain text');
    await enqueue(plane.js, task);
    const result = await a.results.wait((r) => r.taskId === task.id);
    expect(result).toMatchObject({ status: 'completed', result: 'plain text', output: 'plain text' });
  });

  it('fails a task type the agent does not offer, naming it', async () => {
    const a = await start({ AIFLOCK_HANDLERS: ['echo'] });
    const notAllowed = makeTask(a.agent, 'shell', 'true');
    const unknown = makeTask(a.agent, 'translate', 'x');
    await enqueue(plane.js, notAllowed);
    await enqueue(plane.js, unknown);
    const r1 = TaskResult.parse(await a.results.wait((r) => r.taskId === notAllowed.id));
    const r2 = TaskResult.parse(await a.results.wait((r) => r.taskId === unknown.id));
    expect(r1.status).toBe('failed');
    expect(r1.error).toContain('"shell" is not supported');
    expect(r2.status).toBe('failed');
    expect(r2.error).toContain('"translate" is not supported');
    expect(r2.error).toContain('supported: echo');
  });

  it('times out an already-expired task without running it', async () => {
    let ran = false;
    const a = await start({}, {
      echo: async () => {
        ran = true;
        return 'ran';
      },
    });
    const task = makeTask(a.agent, 'echo', 'x', { deadline: new Date(Date.now() - 1_000).toISOString() });
    await enqueue(plane.js, task);
    const result = TaskResult.parse(await a.results.wait((r) => r.taskId === task.id));
    expect(result.status).toBe('timed_out');
    expect(result.error).toMatch(/deadline .* passed before the task started/);
    expect(ran).toBe(false);
  });

  it('terminates an invalid task message and keeps serving', async () => {
    const a = await start();
    await plane.js.publish(subjects.tasks(a.agent), JSON.stringify({}));
    await plane.js.publish(subjects.tasks(a.agent), 'not json at all');
    const good = makeTask(a.agent, 'echo', 'after the junk');
    await enqueue(plane.js, good);

    const result = await a.results.wait((r) => r.taskId === good.id);
    expect(result.status).toBe('completed');
    const errors = await a.events.waitCount((e) => e.type === 'log' && e.level === 'error' && e.msg.includes('invalid task message'), 2);
    expect(errors.map((e) => (e.type === 'log' ? e.msg : ''))).toEqual([
      expect.stringContaining('id: '),
      expect.stringContaining('not JSON'),
    ]);
    // term() removed them: nothing is pending or waiting for redelivery.
    const info = await waitForQueue(plane.jsm, a.agent, (i) => i.num_ack_pending === 0);
    expect(info.num_pending + info.num_redelivered).toBe(0);
    expect(info.delivered.consumer_seq).toBe(3);
  });

  it('fails a task for another agent instead of running it', async () => {
    const a = await start();
    // Published on our subject but claiming another deployment: a confused or hostile producer.
    const task = makeTask('someone-else', 'echo', 'x');
    await plane.js.publish(subjects.tasks(a.agent), JSON.stringify(task), { msgID: task.id });
    const result = TaskResult.parse(await a.results.wait((r) => r.taskId === task.id));
    expect(result.status).toBe('failed');
    expect(result.error).toContain('"someone-else"');
  });

  it('reports a thrown handler error as failed and a HandlerError keeps its output', async () => {
    const { HandlerError } = await import('../src/index.js');
    const a = await start({ AIFLOCK_HANDLERS: ['boom', 'partial'] }, {
      boom: async () => {
        throw new Error('kaboom');
      },
      partial: async () => {
        throw new HandlerError('half done', { output: { done: 1 }, result: 'some' });
      },
    });
    const t1 = makeTask(a.agent, 'boom', null);
    const t2 = makeTask(a.agent, 'partial', null);
    await enqueue(plane.js, t1);
    await enqueue(plane.js, t2);
    expect(await a.results.wait((r) => r.taskId === t1.id)).toMatchObject({ status: 'failed', error: 'kaboom', result: '' });
    expect(await a.results.wait((r) => r.taskId === t2.id)).toMatchObject({
      status: 'failed',
      error: 'half done',
      result: 'some',
      output: { done: 1 },
    });
  });

  it('runs up to AIFLOCK_CONCURRENCY tasks at once and no more', async () => {
    const { a, releases, peak } = await startHolding(2);
    const tasks = [1, 2, 3].map(() => makeTask(a.agent, 'hold', null));
    for (const t of tasks) await enqueue(plane.js, t);
    await a.events.waitCount((e) => e.type === 'task.started', 2);
    // The third task is still queued on the server, not buffered in the client.
    const info = await waitForQueue(plane.jsm, a.agent, (i) => i.num_ack_pending === 2);
    expect(info.num_pending).toBe(1);
    releases.splice(0).forEach((r) => r());
    await a.events.waitCount((e) => e.type === 'task.started', 3);
    releases.splice(0).forEach((r) => r());
    for (const t of tasks) expect((await a.results.wait((r) => r.taskId === t.id)).status).toBe('completed');
    expect(peak()).toBe(2);
  });

  it('runs what a pull request it no longer counts on delivers, in turn, never losing it to the ack wait', async () => {
    const { a, releases, peak } = await startHolding(1);
    // A request it does not know of (one it gave up on, answered late) asks for 3 more.
    const { subject, body } = taskPullRequest(a.agent, { batch: 3, expiresMs: 30_000 });
    plane.nc.publish(subject, body, { reply: `${subjects.deliveries(a.instanceId)}.999` });
    await plane.nc.flush();
    const tasks = [1, 2, 3, 4].map(() => makeTask(a.agent, 'hold', null));
    for (const t of tasks) await enqueue(plane.js, t);
    for (let done = 0; done < tasks.length; done++) {
      await a.events.waitCount((e) => e.type === 'task.started', done + 1);
      releases.splice(0).forEach((r) => r());
    }
    // All ran on their first delivery (none waited out the 30 s ack wait), one at a time.
    for (const t of tasks) expect(await a.results.wait((r) => r.taskId === t.id)).toMatchObject({ status: 'completed', attempt: 1 });
    expect(peak()).toBe(1);
  });

  it('runs nothing that arrives on its deliveries from another queue, or from no queue at all', async () => {
    const a = await start();
    const forged = makeTask(a.agent, 'echo', 'forged');
    const deliveries = `${subjects.deliveries(a.instanceId)}.1`;
    // Another agent's queue's message (what a pull naming our deliveries as its reply would bring), and a bare publish.
    plane.nc.publish(deliveries, JSON.stringify(forged), { reply: `$JS.ACK.${STREAMS.tasks.name}.agent-other.1.1.1.${Date.now()}000000.0` });
    plane.nc.publish(deliveries, JSON.stringify(forged));
    const real = makeTask(a.agent, 'echo', 'real');
    await enqueue(plane.js, real);
    expect(await a.results.wait((r) => r.taskId === real.id)).toMatchObject({ status: 'completed' });
    expect(a.events.items.filter((e) => e.type === 'task.started' && e.taskId === forged.id)).toEqual([]);
    expect(a.results.items.filter((r) => r.taskId === forged.id)).toEqual([]);
  });

  it('with AIFLOCK_ONE_TASK (lifecycle: job) takes one task, reports it and stops; the next stays queued for a fresh instance', async () => {
    const a = await start({ AIFLOCK_ONE_TASK: '1' });
    const [first, second] = [makeTask(a.agent, 'echo', 'one'), makeTask(a.agent, 'echo', 'two')];
    await enqueue(plane.js, first);
    await enqueue(plane.js, second);
    expect(await a.results.wait((r) => r.taskId === first.id)).toMatchObject({ status: 'completed', result: 'one' });
    await a.handle.done;
    await a.events.wait((e) => e.type === 'lifecycle' && e.phase === 'stopping', 5_000, 'stopping');
    const info = await waitForQueue(plane.jsm, a.agent, (i) => i.num_ack_pending === 0);
    expect(info.num_pending).toBe(1);
    expect(a.results.items.filter((r) => r.taskId === second.id)).toEqual([]);
  });

  it('does not acknowledge a task until its result is stored, retrying meanwhile', async () => {
    const a = await start({}, { echo }, { publishTimeoutMs: 500 });
    const resultsConfig = (await plane.jsm.streams.info(STREAMS.results.name)).config;
    await plane.jsm.streams.delete(STREAMS.results.name);
    try {
      const task = makeTask(a.agent, 'echo', 'kept until stored');
      await enqueue(plane.js, task);
      await a.events.waitCount((e) => e.type === 'log' && e.msg.startsWith(`cannot store the result of task ${task.id}`), 2, 10_000);
      const pending = await plane.jsm.consumers.info(STREAMS.tasks.name, `agent-${a.agent}`);
      expect(pending.num_ack_pending).toBe(1);
    } finally {
      await plane.jsm.streams.add(resultsConfig);
    }
    await waitForQueue(plane.jsm, a.agent, (i) => i.num_ack_pending === 0 && i.num_pending === 0, 15_000);
    const stored = await plane.jsm.streams.getMessage(STREAMS.results.name, { last_by_subj: subjects.results(a.instanceId) });
    expect(TaskResult.parse(stored.json())).toMatchObject({ status: 'completed', result: 'kept until stored' });
  });

  it('heartbeats at the configured interval with a valid payload', async () => {
    const ids = newAgent();
    await addQueue(plane.jsm, ids.agent);
    const beats = collect<Heartbeat>(subjects.heartbeat(ids.instanceId));
    await plane.nc.flush();
    const t0 = Date.now();
    const handle = runAgent(defineAgent({ handlers: { echo } }), makeEnv(plane.server.url, ids, { AIFLOCK_HEARTBEAT_MS: 200 }), {
      logToStdout: false,
    });
    running.push(handle);
    await handle.ready;
    // With the 30 s default only the startup beats would come within this wait.
    const got = await beats.waitCount(() => true, 6, 5_000, 'heartbeats');
    const elapsed = Date.now() - t0;
    for (const hb of got) Heartbeat.parse(hb);
    expect(got.at(-1)).toMatchObject({ instanceId: ids.instanceId, agent: ids.agent, state: 'idle', runningTasks: [] });
    // 6 beats of which at most 2 are the immediate ones: at least 4 intervals of 200 ms passed.
    expect(elapsed).toBeGreaterThanOrEqual(4 * 200 - 50);
    expect(got.at(-1)!.uptimeMs).toBeGreaterThan(0);
    expect(got.at(-1)!.rssBytes).toBeGreaterThan(0);
  });

  it('reports busy with the running task in heartbeats', async () => {
    let release!: () => void;
    const a = await start({ AIFLOCK_HEARTBEAT_MS: 100, AIFLOCK_HANDLERS: ['hold'] }, {
      hold: () => new Promise((r) => (release = () => r('done'))),
    });
    const beats = collect<Heartbeat>(subjects.heartbeat(a.instanceId));
    const task = makeTask(a.agent, 'hold', null);
    await enqueue(plane.js, task);
    const busy = await beats.wait((hb) => hb.state === 'busy', 5_000, 'busy heartbeat');
    expect(busy.runningTasks).toEqual([task.id]);
    release();
    await a.results.wait((r) => r.taskId === task.id);
    await beats.wait((hb) => hb.state === 'idle' && beats.items.indexOf(hb) > beats.items.indexOf(busy), 5_000, 'idle again');
  });

  it('ignores invalid control messages and keeps working', async () => {
    const a = await start();
    plane.nc.publish(subjects.control(a.instanceId), JSON.stringify({ type: 'explode' }));
    plane.nc.publish(subjects.control(a.instanceId), 'garbage');
    await a.events.waitCount((e) => e.type === 'log' && e.level === 'warn' && e.msg.startsWith('ignored'), 2);
    const task = makeTask(a.agent, 'echo', 'still alive');
    await enqueue(plane.js, task);
    expect((await a.results.wait((r) => r.taskId === task.id)).status).toBe('completed');
  });

  it('waits for the control plane to create its queue', async () => {
    const ids = newAgent();
    const events = collect<AgentEvent>(subjects.events(ids.instanceId));
    const results = collect<TaskResult>(subjects.results(ids.instanceId));
    await plane.nc.flush();
    const handle = runAgent(defineAgent({ handlers: { echo } }), makeEnv(plane.server.url, ids), { logToStdout: false });
    running.push(handle);
    await events.wait((e) => e.type === 'log' && e.msg.includes('not available yet'), 5_000, 'queue-missing warning');
    // The runtime must not have created it itself.
    await expect(plane.jsm.consumers.info(STREAMS.tasks.name, `agent-${ids.agent}`)).rejects.toThrow(/consumer not found/);
    await addQueue(plane.jsm, ids.agent);
    await handle.ready;
    const task = makeTask(ids.agent, 'echo', 'late queue');
    await enqueue(plane.js, task);
    expect((await results.wait((r) => r.taskId === task.id)).status).toBe('completed');
  });

  it('logs JSON lines to AIFLOCK_LOG_FILE tagged with the task id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aiflock-agent-log-'));
    try {
      const file = join(dir, 'agent.log');
      const a = await start({ AIFLOCK_LOG_FILE: file, AIFLOCK_HANDLERS: ['talk'] }, {
        talk: async (ctx) => {
          ctx.log.info('hello from the handler');
          return 'ok';
        },
      });
      const task = makeTask(a.agent, 'talk', null);
      await enqueue(plane.js, task);
      await a.results.wait((r) => r.taskId === task.id);
      const event = await a.events.wait((e) => e.type === 'log' && e.msg === 'hello from the handler');
      expect(event).toMatchObject({ taskId: task.id, level: 'info' });
      await a.handle.stop();
      const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.msg === 'hello from the handler')).toMatchObject({
        level: 'info',
        taskId: task.id,
        instanceId: a.instanceId,
        agent: a.agent,
        ts: expect.any(String),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops gracefully: lifecycle stopping, in-flight work finishes, a second stop is harmless', async () => {
    let release!: () => void;
    const a = await start({ AIFLOCK_HANDLERS: ['hold'] }, {
      hold: () => new Promise((r) => (release = () => r('finished during grace'))),
    });
    const task = makeTask(a.agent, 'hold', null);
    await enqueue(plane.js, task);
    await a.events.wait((e) => e.type === 'task.started');
    const stopping = a.handle.stop();
    await a.events.wait((e) => e.type === 'lifecycle' && e.phase === 'stopping', 5_000, 'stopping event');
    release();
    await stopping;
    expect(await a.results.wait((r) => r.taskId === task.id)).toMatchObject({ status: 'completed', result: 'finished during grace' });
    await expect(a.handle.stop()).resolves.toBeUndefined();
    await expect(a.handle.done).resolves.toBeUndefined();
  });

  it('on a stop order (a drain) stops taking tasks and lets the running one finish within the grace the order gives', async () => {
    let release!: () => void;
    // The default grace here is 2 s: the order's 60 s is what keeps the task alive past it.
    const a = await start({ AIFLOCK_HANDLERS: ['hold'] }, {
      hold: () => new Promise((r) => (release = () => r('finished in place'))),
    });
    const task = makeTask(a.agent, 'hold', null);
    await enqueue(plane.js, task);
    await a.events.wait((e) => e.type === 'task.started');
    plane.nc.publish(subjects.control(a.instanceId), JSON.stringify({ type: 'stop', reason: 'node north is draining', graceMs: 60_000 }));
    await a.events.wait((e) => e.type === 'log' && e.msg === 'waiting up to 60000 ms for 1 task(s) to finish', 5_000, 'the grace of the order');
    await a.events.wait((e) => e.type === 'lifecycle' && e.phase === 'stopping', 5_000, 'stopping event');
    release();
    await a.handle.done;
    expect(await a.results.wait((r) => r.taskId === task.id)).toMatchObject({ status: 'completed', result: 'finished in place', attempt: 1 });
  });

  it('returns a task that outlives the stop grace to the queue', async () => {
    const ids = newAgent();
    await addQueue(plane.jsm, ids.agent);
    const handle = runAgent(
      defineAgent({ handlers: { hold: (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))) } }),
      makeEnv(plane.server.url, ids, { AIFLOCK_HANDLERS: ['hold'] }),
      { logToStdout: false, stopGraceMs: 100 },
    );
    running.push(handle);
    const events = collect<AgentEvent>(subjects.events(ids.instanceId));
    const firstResults = collect<TaskResult>(subjects.results(ids.instanceId));
    await handle.ready;
    const task = makeTask(ids.agent, 'hold', null);
    await enqueue(plane.js, task);
    await events.wait((e) => e.type === 'task.started');
    await handle.stop();
    // Neither answered nor acknowledged by the instance that stopped...
    expect(firstResults.items).toEqual([]);
    // ...but nak'ed, so the next instance gets it at once rather than after ack_wait (30 s here).

    const secondId = `${ids.agent}-zzzzzzzz`;
    const results = collect<TaskResult>(subjects.results(secondId));
    await plane.nc.flush();
    const second = runAgent(
      defineAgent({ handlers: { hold: async () => 'second run' } }),
      makeEnv(plane.server.url, { agent: ids.agent, instanceId: secondId }, { AIFLOCK_HANDLERS: ['hold'] }),
      { logToStdout: false },
    );
    running.push(second);
    expect(await results.wait((r) => r.taskId === task.id, 10_000, 'redelivered result (before ack_wait)')).toMatchObject({
      status: 'completed',
      result: 'second run',
      agentId: secondId,
    });
    // The first instance stored the start of this stream message; the second, given it again
    // (JetStream may count such a delivery as the first), runs it only once the control plane said so.
    expect(plane.claimsAsked.filter((c) => c.taskId === task.id)).toHaveLength(1);
  });

  it('does not run a copy of a delivery whose start is already stored while a live instance holds it, and acknowledges it once it has ended', { timeout: 30_000 }, async () => {
    let ran = 0;
    const a = await start({ AIFLOCK_HANDLERS: ['count'] }, { count: async () => `run ${++ran}` }, { heldRetryMs: 100 });
    const task = makeTask(a.agent, 'count', null);
    // A NATS server lost the consumer's record of the first delivery: the same stream message
    // comes again as a first delivery, after another instance stored its start.
    const seq = (await plane.jsm.streams.info(STREAMS.tasks.name)).state.last_seq + 1;
    const other = `${a.agent}-othrhold`;
    const earlier = { type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: 1 };
    await plane.js.publish(subjects.events(other), JSON.stringify(earlier), { msgID: `start:${task.id}:${seq}` });
    plane.claims.set(task.id, { verdict: 'held', status: 'running', holder: other });
    await enqueue(plane.js, task);

    // It asks, is told the other holds it, and asks again rather than running it.
    for (const until = Date.now() + 10_000; plane.claimsAsked.filter((c) => c.taskId === task.id).length < 3; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) throw new Error('the instance did not ask about the held task repeatedly');
    }
    expect(ran).toBe(0);
    expect(plane.claimsAsked.find((c) => c.taskId === task.id)).toEqual({ taskId: task.id, delivery: 1 });

    // The holder finished it: the copy is acknowledged without running.
    plane.claims.set(task.id, { verdict: 'finished', status: 'completed', holder: other });
    const consumer = async () => plane.jsm.consumers.info(STREAMS.tasks.name, taskConsumerName(a.agent));
    for (const until = Date.now() + 10_000; (await consumer()).num_ack_pending > 0 || (await consumer()).num_pending > 0; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > until) throw new Error('the finished task was not acknowledged');
    }
    expect(ran).toBe(0);
    expect(a.results.items.filter((r) => r.taskId === task.id)).toEqual([]);
    // JetStream stored no start of this instance's for it (the copy's was refused as a duplicate).
    expect((await storedEvents(a.instanceId)).filter((e) => e.type === 'task.started' && e.taskId === task.id)).toEqual([]);
  });

  it('runs once, under its first start, when that start was stored but its confirmation lost (the retry refused as a duplicate)', { timeout: 30_000 }, async () => {
    let ran = 0;
    const a = await start({ AIFLOCK_HANDLERS: ['count'] }, { count: async () => `run ${++ran}` }, { heldRetryMs: 100 });
    const task = makeTask(a.agent, 'count', null);
    // The instance's own start of the first delivery is in the stream already: the server
    // stored it and went before confirming, so the instance's retry is refused as a duplicate.
    const seq = (await plane.jsm.streams.info(STREAMS.tasks.name)).state.last_seq + 1;
    const own = { type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: 1 };
    await plane.js.publish(subjects.events(a.instanceId), JSON.stringify(own), { msgID: `start:${task.id}:${seq}` });
    plane.claims.set(task.id, { verdict: 'run', status: 'running', holder: a.instanceId });
    await enqueue(plane.js, task);

    expect(await a.results.wait((r) => r.taskId === task.id)).toMatchObject({ status: 'completed', result: 'run 1', attempt: 1 });
    expect(ran).toBe(1);
    // No second start: the control plane would count it as another attempt.
    expect((await storedEvents(a.instanceId)).filter((e) => e.type === 'task.started' && e.taskId === task.id)).toHaveLength(1);
  });

  it('acknowledges, without running or asking, a task delivered again after it finished here', { timeout: 30_000 }, async () => {
    let ran = 0;
    const a = await start({ AIFLOCK_HANDLERS: ['count'] }, { count: async () => `run ${++ran}` });
    const task = makeTask(a.agent, 'count', null);
    await enqueue(plane.js, task);
    await a.results.wait((r) => r.taskId === task.id);
    // The same task comes again: its acknowledgement went with a NATS server, and the control
    // plane has not read the stored result yet (it would still say the task runs here).
    plane.claims.set(task.id, { verdict: 'run', status: 'running', holder: a.instanceId });
    await plane.js.publish(subjects.tasks(task.agent), JSON.stringify(task), { msgID: `${task.id}-again` });
    const consumer = async () => plane.jsm.consumers.info(STREAMS.tasks.name, taskConsumerName(a.agent));
    for (const until = Date.now() + 10_000; (await consumer()).num_ack_pending > 0 || (await consumer()).num_pending > 0; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > until) throw new Error('the task delivered again was not acknowledged');
    }
    expect(ran).toBe(1);
    expect(plane.claimsAsked.filter((c) => c.taskId === task.id)).toEqual([]);
    expect((await storedEvents(a.instanceId)).filter((e) => e.type === 'task.started' && e.taskId === task.id)).toHaveLength(1);
  });

  it('waits for a stored start the control plane has not seen yet, then runs if it never does', { timeout: 30_000 }, async () => {
    let ran = 0;
    const a = await start({ AIFLOCK_HANDLERS: ['count'] }, { count: async () => `run ${++ran}` }, { heldRetryMs: 100, startGraceMs: 1_500 });
    const task = makeTask(a.agent, 'count', null);
    const seq = (await plane.jsm.streams.info(STREAMS.tasks.name)).state.last_seq + 1;
    const other = `${a.agent}-othrlost`;
    const earlier = { type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: 1 };
    await plane.js.publish(subjects.events(other), JSON.stringify(earlier), { msgID: `start:${task.id}:${seq}` });
    plane.claims.set(task.id, { verdict: 'run', status: 'queued', holder: null });
    await enqueue(plane.js, task);

    for (const until = Date.now() + 10_000; plane.claimsAsked.filter((c) => c.taskId === task.id).length < 3; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) throw new Error('the instance did not ask again about the task');
    }
    expect(ran).toBe(0);
    // The start never reaches the control plane (its holder died first): the task is not lost.
    expect(await a.results.wait((r) => r.taskId === task.id, 10_000)).toMatchObject({ status: 'completed', result: 'run 1' });
    expect((await storedEvents(a.instanceId)).filter((e) => e.type === 'task.started' && e.taskId === task.id)).toHaveLength(1);
  });

  it('keeps a delivery while the control plane says it cannot tell yet, acknowledging it once it can', { timeout: 30_000 }, async () => {
    let ran = 0;
    const a = await start({ AIFLOCK_HANDLERS: ['count'] }, { count: async () => `run ${++ran}` }, { heldRetryMs: 100 });
    const task = makeTask(a.agent, 'count', null);
    const seq = (await plane.jsm.streams.info(STREAMS.tasks.name)).state.last_seq + 1;
    const other = `${a.agent}-othrwait`;
    await plane.js.publish(subjects.events(other), JSON.stringify({ type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: 1 }), { msgID: `start:${task.id}:${seq}` });
    // The control plane has not read what instances stored (a lost server held it back).
    plane.claims.set(task.id, { verdict: 'wait', status: 'queued', holder: null });
    await enqueue(plane.js, task);
    for (const until = Date.now() + 10_000; plane.claimsAsked.filter((c) => c.taskId === task.id).length < 5; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) throw new Error('the instance did not keep asking about the task');
    }
    expect(ran).toBe(0);
    // Once it has read them: the other instance finished it.
    plane.claims.set(task.id, { verdict: 'finished', status: 'completed', holder: other });
    await untilAcknowledged(a.agent);
    expect(ran).toBe(0);
  });

  it('takes a task as it stands once the control plane has failed to catch up for settleMaxMs', { timeout: 30_000 }, async () => {
    let ran = 0;
    const a = await start({ AIFLOCK_HANDLERS: ['count'] }, { count: async () => `run ${++ran}` }, { heldRetryMs: 100, settleMaxMs: 1_000 });
    const task = makeTask(a.agent, 'count', null);
    const seq = (await plane.jsm.streams.info(STREAMS.tasks.name)).state.last_seq + 1;
    await plane.js.publish(subjects.events(`${a.agent}-othrgone`), JSON.stringify({ type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: 1 }), { msgID: `start:${task.id}:${seq}` });
    plane.claims.set(task.id, { verdict: 'wait', status: 'running', holder: `${a.agent}-othrgone` });
    await enqueue(plane.js, task);
    expect(await a.results.wait((r) => r.taskId === task.id, 10_000)).toMatchObject({ status: 'completed', result: 'run 1' });
    expect(ran).toBe(1);
  });

  describe('a later delivery of a task whose start the control plane has never seen', () => {
    /** The task, delivered once to someone else who gave it back: the instance started next gets delivery 2. */
    async function redelivered(startedBy?: string) {
      const ids = newAgent();
      await addQueue(plane.jsm, ids.agent);
      const task = makeTask(ids.agent, 'count', null);
      await enqueue(plane.js, task);
      const seq = (await plane.jsm.streams.info(STREAMS.tasks.name)).state.last_seq;
      const first = await (await plane.js.consumers.get(STREAMS.tasks.name, taskConsumerName(ids.agent))).next({ expires: 5_000 });
      expect(first?.info.deliveryCount).toBe(1);
      // The first holder stored its start, held up by a lost server, only after the task came again.
      if (startedBy) await plane.js.publish(subjects.events(startedBy), JSON.stringify({ type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: 1 }), { msgID: `start:${task.id}:${seq}` });
      first!.nak();
      plane.claims.set(task.id, { verdict: 'run', status: 'queued', holder: null });
      return { ids, task, seq };
    }

    it('runs it under the task\'s first start, so a holder still storing its own finds it taken', { timeout: 30_000 }, async () => {
      let ran = 0;
      const { ids, task, seq } = await redelivered();
      const results = collect<TaskResult>(subjects.results(ids.instanceId));
      await plane.nc.flush();
      running.push(runAgent(defineAgent({ handlers: { count: async () => `run ${++ran}` } }), makeEnv(plane.server.url, ids, { AIFLOCK_HANDLERS: ['count'] }), { logToStdout: false, heldRetryMs: 100 }));
      expect(await results.wait((r) => r.taskId === task.id, 10_000)).toMatchObject({ status: 'completed', attempt: 2 });
      expect(plane.claimsAsked.filter((c) => c.taskId === task.id)[0]).toEqual({ taskId: task.id, delivery: 2 });
      // The first holder's start, stored late, is refused: it would ask before running.
      const late = await plane.js.publish(subjects.events(`${ids.agent}-firsthld`), '{}', { msgID: `start:${task.id}:${seq}` });
      expect(late.duplicate).toBe(true);
      expect(ran).toBe(1);
    });

    it('does not run it when the first holder stored its start first, and asks again instead', { timeout: 30_000 }, async () => {
      let ran = 0;
      const { ids, task } = await redelivered(`${newAgent().agent}-firsthld`);
      running.push(runAgent(defineAgent({ handlers: { count: async () => `run ${++ran}` } }), makeEnv(plane.server.url, ids, { AIFLOCK_HANDLERS: ['count'] }), { logToStdout: false, heldRetryMs: 100, startGraceMs: 60_000 }));
      for (const until = Date.now() + 10_000; plane.claimsAsked.filter((c) => c.taskId === task.id).length < 4; await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > until) throw new Error('the instance did not ask again about the task');
      }
      expect(ran).toBe(0);
      plane.claims.set(task.id, { verdict: 'finished', status: 'completed', holder: null });
      await untilAcknowledged(ids.agent);
      expect(ran).toBe(0);
    });
  });

  it('keeps retrying with a clear line while the bus is unreachable, and can be stopped meanwhile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aiflock-agent-log-'));
    try {
      const file = join(dir, 'agent.log');
      const ids = newAgent();
      const handle = runAgent(defineAgent({ handlers: { echo } }), makeEnv('nats://127.0.0.1:1', ids, { AIFLOCK_LOG_FILE: file }), {
        logToStdout: false,
      });
      let lines: string[] = [];
      for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
        lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('cannot connect to the bus'));
        if (lines.length >= 2) break;
      }
      // Two attempts logged means it retried instead of giving up (or crashing).
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines[0]).toContain('nats://127.0.0.1:1');
      await handle.stop();
      await expect(handle.ready).rejects.toThrow(/stopped before/);
      await expect(handle.done).resolves.toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
