import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HumanClient, askHumanTool, type ToolCallContext } from '@aiflock/agent';
import type { TaskStep } from '@aiflock/protocol';
import { BusInstance } from '../../../testkit/bus-instance.js';
import { eventually } from '../../../testkit/flock.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * The `ask_human` tool of the loop against the real control plane on a real bus: it asks,
 * the task waits, a person answers through the API, and the tool returns the answer with
 * its question and answer steps; a cancel ends the wait.
 */
let api: ApiHarness;
let agent: BusInstance;
beforeAll(async () => {
  api = await startApi();
  const manifest = 'apiVersion: aiflock/v1\nkind: Agent\nname: asker\nversion: 1.0.0\nhandlers: [agent]\naccess:\n  runTasks: ["*"]\ntools:\n  askHuman: true\n';
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  agent = await BusInstance.start(api.natsUrl, api.store, 'asker');
  // A nats-server, the API and an instance on the bus: several seconds on a loaded machine.
}, 60_000);
afterAll(async () => {
  await agent?.close();
  await api?.close();
});

type Emitted = Omit<TaskStep, 'type' | 'ts' | 'taskId' | 'seq'>;

async function toolContext(abort = new AbortController()) {
  await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'asker', type: 'agent', input: 'Tidy the repo' } });
  const t = await agent.take();
  await eventually(async () => (await api.store.tasks.get(t.task.id))?.status === 'running', 'the task running');
  const steps: Emitted[] = [];
  const pauses: (string | undefined)[] = [];
  const ctx = {
    task: t.task,
    callId: 'call-7',
    signal: abort.signal,
    human: new HumanClient((service, op, payload, timeoutMs) => agent.rpc(service, op, payload, timeoutMs)),
    log: { debug() {}, info() {}, warn() {}, error() {} },
    emit: (s: Emitted) => void steps.push(s),
    pauseDeadline: () => (deadline?: string) => void pauses.push(deadline),
  } as unknown as ToolCallContext;
  return { t, ctx, steps, pauses, abort };
}

/**
 * Until the question is out on both sides: the control plane shows the task waiting, and the
 * tool has had the reply to its ask and emitted the question step. The store changes before
 * that reply reaches the tool, so waiting for the status alone races the step.
 */
const asked = (taskId: string, steps: Emitted[]) =>
  eventually(async () => steps.length > 0 && (await api.store.tasks.get(taskId))?.status === 'waiting_for_human', 'the question asked and the task waiting_for_human');

// Each test is a handful of bus round trips and store writes: two seconds with the machine's
// load at 20, past the unit tests' default 5 s at twice that. Every wait inside is on a condition.
describe('ask_human tool', { timeout: 30_000 }, () => {
  it('asks, waits while the task shows waiting_for_human, and returns the answer a person gives', async () => {
    const { t, ctx, steps, pauses } = await toolContext();
    const run = askHumanTool.run({ question: 'Delete the old branches?' }, ctx);
    await asked(t.task.id, steps);
    expect(steps).toEqual([{ kind: 'question', text: 'Delete the old branches?', tool: 'ask_human', callId: 'call-7' }]);
    const answered = await api.fetch(`/v1/jobs/${t.task.id}/answer`, { method: 'POST', body: { text: 'Yes, all merged ones.' } });
    expect(answered.status).toBe(200);
    const out = await run;
    expect(out.summary.ok).toBe(true);
    expect(out.content).toBe('test-admin answered: Yes, all merged ones.');
    expect(steps[1]).toEqual({ kind: 'human_answer', text: 'Yes, all merged ones.', tool: 'ask_human', callId: 'call-7' });
    // The deadline was paused here and resumed at the control plane's new deadline.
    const task = await api.store.tasks.get(t.task.id);
    expect(pauses).toEqual([task!.deadline]);
    expect(task!.status).toBe('running');
    await agent.finish(t, { status: 'completed', result: 'done' });
  });

  it('ends the wait when the task is cancelled', async () => {
    const { t, ctx, steps, abort } = await toolContext();
    const run = askHumanTool.run({ question: 'Which one?' }, ctx);
    await asked(t.task.id, steps);
    expect((await api.fetch(`/v1/jobs/${t.task.id}/cancel`, { method: 'POST', body: {} })).body.status).toBe('cancelled');
    // The runtime aborts the task's signal on the control plane's cancel order.
    abort.abort('cancelled');
    const out = await run;
    expect(out.summary).toMatchObject({ ok: false, error: 'the task was stopped while waiting for an answer' });
    expect(steps.map((s) => s.kind)).toEqual(['question']);
    await agent.finish(t, { status: 'cancelled', result: '' });
  });

  it('refuses an empty question without asking anyone', async () => {
    const { t, ctx, steps } = await toolContext();
    const out = await askHumanTool.run({ question: '  ' }, ctx);
    expect(out.summary).toMatchObject({ ok: false, error: expect.stringContaining('question') });
    expect(steps).toEqual([]);
    expect((await api.store.tasks.get(t.task.id))?.status).toBe('running');
    await agent.finish(t, { status: 'completed', result: 'ok' });
  });
});
