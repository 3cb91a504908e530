import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { payingAgent } from '@aiflock/core';
import type { Task, TaskView } from '@aiflock/protocol';
import type { JsMsg } from 'nats';
import { BusInstance } from '../../../testkit/bus-instance.js';
import { eventually } from '../../../testkit/flock.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * Delegation on the real bus and store: agents played by `BusInstance`s hand work to each
 * other through `tasks.delegate|wait`, as the SDK's `ctx.delegate` does. What the manifests
 * allow goes through, linked to its parent; the attacks (an agent not listed, a parent that
 * is not the caller's, a cycle, a chain too deep) are refused and queue nothing.
 */
vi.setConfig({ testTimeout: 60_000 });

let api: ApiHarness;
const agents: Record<string, BusInstance> = {};
type Taken = { task: Task; msg: JsMsg };

async function deploy(name: string, delegates: string[]): Promise<void> {
  const manifest = `name: ${name}\nhandlers: [echo]\n${delegates.length ? `delegates: [${delegates.join(', ')}]\n` : ''}`;
  const r = await api.fetch('/v1/agents', { method: 'POST', body: { manifest } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  agents[name] = await BusInstance.start(api.natsUrl, api.store, name);
}

/** A task queued by a person on `agent`, taken by its instance and recorded running there. */
async function started(agent: string, input = 'work'): Promise<Taken> {
  const r = await api.fetch('/v1/tasks', { method: 'POST', body: { agent, input } });
  expect(r.status).toBe(201);
  const t = await agents[agent]!.take();
  await eventually(async () => (await api.store.tasks.get(t.task.id))?.instanceId === agents[agent]!.id, `${t.task.id} running on ${agent}`);
  return t;
}

const delegate = (from: string, parentTaskId: string, agent: string, callId = 'c1') =>
  agents[from]!.rpc<TaskView>('tasks', 'delegate', { parentTaskId, callId, agent, input: `from ${from}` });

/** The error code a refused call answers with. */
const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (err: { code?: string }) => err.code ?? String(err));

const tasksOf = async (agent: string) => (await api.fetch(`/v1/tasks?agent=${agent}`)).body.tasks as TaskView[];

beforeAll(async () => {
  api = await startApi();
  // boss may hand work to worker; worker back to boss (a cycle waiting to happen) and on down a chain.
  await deploy('boss', ['worker']);
  await deploy('worker', ['boss', 'w2']);
  await deploy('w2', ['w3']);
  await deploy('w3', ['w4']);
  await deploy('w4', []);
  await deploy('outsider', []);
}, 60_000);

afterAll(async () => {
  for (const a of Object.values(agents)) await a.close();
  await api?.close();
});

describe('delegation', () => {
  it('queues a child on a listed agent, linked to its parent, within its deadline; a retried call queues nothing new; the caller waits for its answer', async () => {
    const parent = await started('boss');
    const child = await delegate('boss', parent.task.id, 'worker');
    expect(child).toMatchObject({ agent: 'worker', parentId: parent.task.id, status: 'queued', input: 'from boss' });
    expect(Date.parse(child.deadline)).toBeLessThanOrEqual(Date.parse(parent.task.deadline));
    expect((await delegate('boss', parent.task.id, 'worker')).id).toBe(child.id);
    // The job view shows the link both ways.
    expect((await api.fetch(`/v1/tasks/${child.id}`)).body.parentId).toBe(parent.task.id);
    expect(((await api.fetch(`/v1/tasks?parent=${parent.task.id}`)).body.tasks as TaskView[]).map((t) => t.id)).toEqual([child.id]);

    const waiting = agents['boss']!.rpc<TaskView>('tasks', 'wait', { taskId: child.id, waitMs: 20_000 });
    const work = await agents['worker']!.take();
    expect(work.task.id).toBe(child.id);
    await agents['worker']!.finish(work, { status: 'completed', result: 'done by worker' });
    expect(await waiting).toMatchObject({ id: child.id, status: 'completed', result: 'done by worker' });
    // Only the agent that delegated may wait on (and so read) the child.
    expect(await refusal(agents['outsider']!.rpc('tasks', 'wait', { taskId: child.id, waitMs: 0 }))).toBe('validation_failed');
    const lines = (await api.fetch(`/v1/tasks/${parent.task.id}/logs`)).body.lines as { msg: string }[];
    expect(lines.map((l) => l.msg)).toContain(`delegated task ${child.id} to agent worker`);
    await agents['boss']!.finish(parent, { status: 'completed', result: 'ok' });
  });

  it('attack: delegating to an agent the manifest does not list is refused, and nothing is queued', async () => {
    const parent = await started('boss');
    expect(await refusal(delegate('boss', parent.task.id, 'outsider'))).toBe('delegation_not_permitted');
    expect(await refusal(delegate('boss', parent.task.id, 'w4'))).toBe('delegation_not_permitted');
    expect(await tasksOf('outsider')).toEqual([]);
    expect(await tasksOf('w4')).toEqual([]);
    await agents['boss']!.finish(parent, { status: 'completed', result: 'ok' });
  });

  it("attack: a parent id that is not the caller's running task is refused (another agent's, a finished one, made up)", async () => {
    const parent = await started('boss');
    // worker may delegate to boss, but boss's task is not worker's to hang work on.
    expect(await refusal(delegate('worker', parent.task.id, 'w2'))).toBe('delegation_parent_invalid');
    expect(await refusal(delegate('outsider', parent.task.id, 'worker'))).toBe('delegation_parent_invalid');
    await agents['boss']!.finish(parent, { status: 'completed', result: 'ok' });
    await eventually(async () => (await api.store.tasks.get(parent.task.id))?.status === 'completed', 'parent completed');
    expect(await refusal(delegate('boss', parent.task.id, 'worker', 'late'))).toBe('delegation_parent_invalid');
    expect(await refusal(delegate('boss', 't_00000000000000000000000000', 'worker'))).toBe('delegation_parent_invalid');
    expect(await tasksOf('w2')).toEqual([]);
  });

  it('attack: handing work back to an agent already in the chain is a cycle, refused', async () => {
    const parent = await started('boss');
    const child = await delegate('boss', parent.task.id, 'worker', 'cycle');
    const work = await agents['worker']!.take();
    expect(work.task.id).toBe(child.id);
    await eventually(async () => (await api.store.tasks.get(child.id))?.instanceId === agents['worker']!.id, 'child running');
    const bossTasks = (await tasksOf('boss')).length;
    expect(await refusal(delegate('worker', child.id, 'boss'))).toBe('delegation_cycle');
    expect((await tasksOf('boss')).length).toBe(bossTasks);
    await agents['worker']!.finish(work, { status: 'completed', result: 'ok' });
    await agents['boss']!.finish(parent, { status: 'completed', result: 'ok' });
  });

  it(`attack: a chain deeper than the flock allows is refused; cancelling its root cancels every task below`, async () => {
    const root = await started('boss');
    const chain: Taken[] = [root];
    for (const [from, to] of [['boss', 'worker'], ['worker', 'w2'], ['w2', 'w3']] as const) {
      const child = await delegate(from, chain[chain.length - 1]!.task.id, to, 'deep');
      const t = await agents[to]!.take();
      expect(t.task.id).toBe(child.id);
      await eventually(async () => (await api.store.tasks.get(child.id))?.instanceId === agents[to]!.id, `${to} running`);
      chain.push(t);
    }
    // boss -> worker -> w2 -> w3 is three delegations deep: w3 may hand on no further.
    expect(await refusal(delegate('w3', chain[3]!.task.id, 'w4'))).toBe('delegation_too_deep');
    expect(await tasksOf('w4')).toEqual([]);

    expect((await api.fetch(`/v1/tasks/${root.task.id}/cancel`, { method: 'POST' })).body.status).toBe('cancelled');
    for (const t of chain.slice(1)) {
      await eventually(async () => (await api.store.tasks.get(t.task.id))?.status === 'cancelled', `${t.task.agent}'s task cancelled with its root`);
      expect((await api.store.tasks.get(t.task.id))?.error).toContain('its parent task');
    }
  });

  it("model calls for a delegated task, while it runs, are paid by the agent at the top of the chain; nobody else's task and no finished one moves the bill", async () => {
    const parent = await started('boss');
    const child = await delegate('boss', parent.task.id, 'worker', 'pay');
    const work = await agents['worker']!.take();
    await eventually(async () => (await api.store.tasks.get(child.id))?.instanceId === agents['worker']!.id, 'child running');
    const worker = { instanceId: agents['worker']!.id, agent: 'worker' };
    expect(await payingAgent(api.store, worker, child.id)).toBe('boss');
    expect(await payingAgent(api.store, worker, undefined)).toBe('worker');
    // Naming a task of another agent is refused outright.
    await expect(payingAgent(api.store, { instanceId: agents['outsider']!.id, agent: 'outsider' }, child.id)).rejects.toMatchObject({ code: 'validation_failed' });
    await agents['worker']!.finish(work, { status: 'completed', result: 'ok' });
    await eventually(async () => (await api.store.tasks.get(child.id))?.status === 'completed', 'child completed');
    expect(await payingAgent(api.store, worker, child.id)).toBe('worker');
    await agents['boss']!.finish(parent, { status: 'completed', result: 'ok' });
  });

  it('refuses a manifest that lists the agent itself', async () => {
    const r = await api.fetch('/v1/agents', { method: 'POST', body: { manifest: 'name: narcissus\nhandlers: [echo]\ndelegates: [narcissus]\n' } });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('delegates');
  });
});
