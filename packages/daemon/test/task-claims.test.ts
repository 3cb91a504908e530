import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TaskClaim, TaskView } from '@aiflock/protocol';
import { BusInstance } from '../../../testkit/bus-instance.js';
import { eventually } from '../../../testkit/flock.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * `tasks.claim` on the real bus and store: an instance given a task again (JetStream delivers
 * at least once, and a NATS server lost can take an acknowledgement or a delivery record with
 * it) asks whether it may run it. A task that ended is never run again, one a live instance
 * holds is left to it, and anything else runs, so a task is neither run twice nor lost.
 */
vi.setConfig({ testTimeout: 60_000 });

let api: ApiHarness;
let holder: BusInstance;
let other: BusInstance;
let stranger: BusInstance;

async function deploy(name: string): Promise<void> {
  const r = await api.fetch('/v1/agents', { method: 'POST', body: { manifest: `name: ${name}\nhandlers: [echo]\n` } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

const claim = (by: BusInstance, taskId: string) => by.rpc<TaskClaim>('tasks', 'claim', { taskId, delivery: 2 });

/** A task queued on `claimer`, taken by the holder and recorded running there. */
async function heldTask() {
  const r = await api.fetch('/v1/tasks', { method: 'POST', body: { agent: 'claimer', input: 'work' } });
  expect(r.status).toBe(201);
  const t = await holder.take();
  await eventually(async () => (await api.store.tasks.get(t.task.id))?.instanceId === holder.id, `${t.task.id} running on the holder`);
  return t;
}

beforeAll(async () => {
  api = await startApi();
  await deploy('claimer');
  await deploy('stranger');
  holder = await BusInstance.start(api.natsUrl, api.store, 'claimer');
  other = await BusInstance.start(api.natsUrl, api.store, 'claimer');
  stranger = await BusInstance.start(api.natsUrl, api.store, 'stranger');
}, 60_000);

afterAll(async () => {
  for (const i of [holder, other, stranger]) await i?.close();
  await api?.close();
});

describe('tasks.claim', () => {
  it('leaves a task to the live instance that runs it, and refuses to run it again once it has ended', async () => {
    const t = await heldTask();
    await holder.beat('busy', [t.task.id]);
    expect(await eventually(async () => ((await claim(other, t.task.id)).verdict === 'held' ? claim(other, t.task.id) : undefined), 'held')).toEqual({ verdict: 'held', status: 'running', holder: holder.id });
    // The holder asking about its own task (its container restarted) runs it.
    expect((await claim(holder, t.task.id)).verdict).toBe('run');
    await holder.finish(t, { status: 'completed', result: 'done' });
    await eventually(async () => (await api.fetch(`/v1/tasks/${t.task.id}`)).body.status === 'completed', 'completed');
    expect(await claim(other, t.task.id)).toEqual({ verdict: 'finished', status: 'completed', holder: holder.id });
  });

  it('runs a task whose holder is stopping (it gave the task back) or was never heard from', async () => {
    const t = await heldTask();
    await holder.beat('busy', [t.task.id]);
    await eventually(async () => (await claim(other, t.task.id)).verdict === 'held', 'held while the holder beats');
    await holder.beat('stopping');
    await eventually(async () => (await claim(other, t.task.id)).verdict === 'run', 'run once the holder is stopping');

    const silent = await BusInstance.start(api.natsUrl, api.store, 'claimer');
    try {
      const r = await api.fetch('/v1/tasks', { method: 'POST', body: { agent: 'claimer', input: 'work' } });
      const s = await silent.take();
      expect(s.task.id).toBe((r.body as TaskView).id);
      await eventually(async () => (await api.store.tasks.get(s.task.id))?.instanceId === silent.id, 'running on the silent instance');
      expect((await claim(other, s.task.id)).verdict).toBe('run');
      await silent.finish(s, { status: 'completed', result: 'done' });
    } finally {
      await silent.close();
    }
    await holder.finish(t, { status: 'completed', result: 'done' });
  });

  it("answers another agent's task as one that does not exist", async () => {
    const t = await heldTask();
    await expect(claim(stranger, t.task.id)).rejects.toMatchObject({ code: 'task_not_found' });
    await expect(claim(other, 't_00000000000000000000000000')).rejects.toMatchObject({ code: 'task_not_found' });
    await holder.finish(t, { status: 'completed', result: 'done' });
  });
});
