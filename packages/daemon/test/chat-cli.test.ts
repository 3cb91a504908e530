import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusInstance } from '../../../testkit/bus-instance.js';
import { apiCli, type ApiCli } from '../../../testkit/cli.js';
import { eventually } from '../../../testkit/flock.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * `aiflock chat <agent> -m` and `aiflock task answer` (the built CLI) against the API, the
 * agent played on the real bus: the reply is printed, a failure exits 5, a refusal exits 6.
 */
let api: ApiHarness;
let cli: ApiCli;
let person: string;
let agent: BusInstance;
beforeAll(async () => {
  api = await startApi();
  const manifest = 'apiVersion: aiflock/v1\nkind: Agent\nname: helper\nversion: 1.0.0\nhandlers: [agent]\naccess:\n  runTasks: ["*"]\ntools:\n  askHuman: true\n';
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  const echo = 'apiVersion: aiflock/v1\nkind: Agent\nname: plain\nversion: 1.0.0\nhandlers: [echo]\n';
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest: echo } })).status).toBe(201);
  person = await api.token(['human'], 'Cleo');
  cli = apiCli(() => api.url, { token: () => person });
  agent = await BusInstance.start(api.natsUrl, api.store, 'helper');
});
afterAll(async () => {
  cli?.cleanup();
  await agent?.close();
  await api?.close();
});

describe('aiflock chat', { timeout: 60_000 }, () => {
  it('sends one message, prints the reply, and with --json the message and reply', async () => {
    const run = cli.run(['chat', 'helper', '-m', 'Say hi', '--json']);
    const t = await agent.take();
    await agent.finish(t, { status: 'completed', result: 'Hi Cleo!' });
    const r = await run;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ taskId: t.task.id, delivered: 'task', message: { text: 'Say hi', person: 'Cleo' }, reply: { role: 'agent', kind: 'answer', text: 'Hi Cleo!' } });
  });

  it('prints a question with how to answer, and task answer answers it', async () => {
    const run = cli.run(['chat', 'helper', '-m', 'Rename the project']);
    const t = await agent.take();
    await agent.rpc('human', 'ask', { taskId: t.task.id, callId: 'c1', question: 'To what name?' });
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('helper asks> To what name?');
    expect(r.stdout).toContain(`aiflock task answer ${t.task.id}`);
    const answered = await cli.run(['task', 'answer', t.task.id, 'flock']);
    expect(answered.code).toBe(0);
    expect(answered.stdout).toContain('answered "To what name?"');
    await eventually(async () => (await api.store.tasks.get(t.task.id))?.status === 'running', 'running again');
    const again = await cli.run(['task', 'answer', t.task.id, 'flock']);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('not waiting');
    await agent.finish(t, { status: 'completed', result: 'Renamed.' });
  });

  it('exits 5 when the task fails and 6 for an agent without the loop', async () => {
    const run = cli.run(['chat', 'helper', '-m', 'Break']);
    const t = await agent.take();
    await agent.finish(t, { status: 'failed', result: '', error: 'no model' });
    const r = await run;
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('helper (failed)> The task failed: no model');
    const refused = await cli.run(['chat', 'plain', '-m', 'hello']);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain('cannot chat');
  });
});
