import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskStep } from '@aiflock/protocol';
import { launchBrowser, signIn, type TestBrowser } from '../../testkit/browser.js';
import { BusInstance } from '../../testkit/bus-instance.js';
import { startApi, type ApiHarness } from '../../packages/daemon/test/http-harness.js';

/**
 * The chat panel and the job transcript in Debian's Chromium, against the daemon's API on a
 * real nats-server with the agent played on the bus: a person chats with an agent, sees its
 * steps as they happen and its answer, answers its question, and an admin reads a job's
 * steps and answers its question from the job view. Screenshots go to test-artifacts/web/.
 */
let api: ApiHarness;
let browser: TestBrowser;
let agent: BusInstance;
let person: string;

const manifest = 'apiVersion: aiflock/v1\nkind: Agent\nname: coder\nversion: 1.0.0\ndescription: Writes and fixes code in its workbench.\nhandlers: [agent]\naccess:\n  runTasks: ["*"]\ntools:\n  shell: true\n  askHuman: true\n';

beforeAll(async () => {
  api = await startApi();
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  person = await api.token(['human'], 'Ann');
  agent = await BusInstance.start(api.natsUrl, api.store, 'coder');
  browser = await launchBrowser('chat');
});
afterAll(async () => {
  await browser?.close();
  await agent?.close();
  await api?.close();
});

/**
 * The loop's steps as the control plane stores them for the job stream (what the loop's
 * ingest of `task.step` events writes; played here since this test is about the page).
 */
let seq = 0;
async function step(taskId: string, s: Omit<TaskStep, 'type' | 'ts' | 'taskId' | 'seq'>): Promise<void> {
  const full: TaskStep = { type: 'task.step', ts: new Date().toISOString(), taskId, seq: seq++, ...s };
  await api.store.jobEvents.append([{ jobId: taskId, type: 'step' as 'log', ts: full.ts, payload: full }]);
}

describe('chat panel', () => {
  it('sends a message, shows the steps live and the answer, and takes the answer to a question', async () => {
    const page = await browser.page();
    await signIn(page, api.url, person);
    await page.goto(`${api.url}/#/agent/coder`);
    const panel = page.getByTestId('chat-panel');
    await panel.getByText('No messages yet').waitFor();
    await panel.getByLabel('Message to coder').fill('Make the failing test in ./calc pass');
    await panel.getByRole('button', { name: 'Send' }).click();

    const t = await agent.take();
    seq = 0;
    await step(t.task.id, { kind: 'thought', text: 'Run the tests first to see what fails.' });
    await step(t.task.id, { kind: 'tool_call', tool: 'shell', callId: 'c1', args: { cmd: 'npm test', cwd: 'calc' } });
    await step(t.task.id, {
      kind: 'tool_result',
      tool: 'shell',
      callId: 'c1',
      result: { ok: false, durationMs: 812, exitCode: 1, stdout: 'FAIL add.test.js\n  expected 4, got 5\n', stderr: '' },
    });
    await panel.getByText('expected 4, got 5').waitFor();
    await panel.getByText('shell exit 1').waitFor();
    await expect.poll(() => panel.locator('.step-tool_call code').textContent()).toContain('cmd: "npm test"');

    // The agent asks; the box turns into an answer box; the answer resumes the task.
    await agent.rpc('human', 'ask', { taskId: t.task.id, callId: 'c2', question: 'Should I change the test or the code?' });
    await step(t.task.id, { kind: 'question', tool: 'ask_human', callId: 'c2', text: 'Should I change the test or the code?' });
    await panel.getByText('coder asks').waitFor();
    await panel.getByText('waiting for your answer').waitFor();
    await browser.screenshot(page, 'question');
    await panel.getByLabel('Message to coder').fill('The code: the test is right.');
    await panel.getByRole('button', { name: 'Answer' }).click();
    await expect.poll(async () => (await api.store.tasks.get(t.task.id))?.status).toBe('running');
    await step(t.task.id, { kind: 'human_answer', tool: 'ask_human', callId: 'c2', text: 'The code: the test is right.' });
    await step(t.task.id, { kind: 'tool_call', tool: 'shell', callId: 'c3', args: { cmd: 'npm test', cwd: 'calc' } });
    await step(t.task.id, { kind: 'tool_result', tool: 'shell', callId: 'c3', result: { ok: true, durationMs: 640, exitCode: 0, stdout: 'PASS add.test.js\n', stderr: '' } });
    await step(t.task.id, { kind: 'answer', text: 'Fixed add() in calc/add.js; the test passes now.' });
    await agent.finish(t, { status: 'completed', result: 'Fixed add() in calc/add.js; the test passes now.' });
    await panel.locator('.bubble.agent.answer').getByText('Fixed add() in calc/add.js').waitFor();
    // Once answered, the steps fold away under the message; they open on a click.
    await panel.getByText('8 steps').click();
    await panel.getByText('shell exit 0').waitFor();
    await browser.screenshot(page, 'answered');

    // A reload shows the stored thread.
    await page.reload();
    await panel.locator('.bubble.agent.answer').waitFor();
    expect(await panel.locator('.bubble').count()).toBe(4);
    // No script error (failed loads are expected here: this API serves no village, and the steps route comes with the loop).
    expect(browser.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  });

  it("says plainly when an agent cannot chat", async () => {
    await api.fetch('/v1/agents', { method: 'POST', body: { manifest: 'apiVersion: aiflock/v1\nkind: Agent\nname: plain\nversion: 1.0.0\nhandlers: [echo]\n' } });
    const page = await browser.page();
    await page.goto(`${api.url}/#/agent/plain`);
    const panel = page.getByTestId('chat-panel');
    await panel.getByLabel('Message to plain').fill('hello?');
    await panel.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => panel.getByRole('alert').textContent()).toContain('plain does not chat');
  });
});

describe('job view', () => {
  it("shows a job's steps as a transcript and answers its waiting question", async () => {
    const page = await browser.page();
    await signIn(page, api.url, api.adminToken);
    const { body } = await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'coder', input: 'List the files' } });
    const t = await agent.take();
    seq = 0;
    await step(t.task.id, { kind: 'tool_call', tool: 'shell', callId: 'c1', args: { cmd: 'ls' } });
    await step(t.task.id, { kind: 'tool_result', tool: 'shell', callId: 'c1', result: { ok: true, durationMs: 12, exitCode: 0, stdout: Array.from({ length: 30 }, (_, i) => `file-${i}.txt`).join('\n'), stderr: '' } });
    await agent.rpc('human', 'ask', { taskId: t.task.id, callId: 'c2', question: 'Hidden files too?' });
    await step(t.task.id, { kind: 'question', tool: 'ask_human', callId: 'c2', text: 'Hidden files too?' });
    await page.goto(`${api.url}/#/admin/jobs`);
    await page.locator(`tr[data-job="${body.jobId}"]`).getByRole('button', { name: 'Watch' }).click();
    const stream = page.getByTestId('job-stream');
    await stream.getByText('file-0.txt').waitFor();
    // Long output is bounded on the page.
    await stream.getByText('… 10 more lines').waitFor();
    const box = page.getByRole('form', { name: `Answer the question of job ${body.jobId}` });
    await box.getByText('Hidden files too?').waitFor();
    await browser.screenshot(page, 'job-transcript');
    await box.getByLabel('Your answer').fill('No, only visible ones.');
    await box.getByRole('button', { name: 'Answer' }).click();
    await expect.poll(async () => (await api.store.tasks.get(t.task.id))?.status).toBe('running');
    await agent.finish(t, { status: 'completed', result: '30 files' });
  });
});
