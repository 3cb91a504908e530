import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AgentTaskInput, type HumanAskReply, type HumanWaitReply, type PostView } from '@aiflock/protocol';
import { BusInstance } from '../../../testkit/bus-instance.js';
import { eventually } from '../../../testkit/flock.js';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * Talking with people through the API, with the agent's side played on the real bus: a
 * chat message becomes an `agent` task whose answer lands in the thread, a board post to an
 * agent is answered there once, and `ask_human` waits for a person's answer.
 */
const loopAgent = (name: string, askHuman: string, access = '["*"]') => `apiVersion: aiflock/v1
kind: Agent
name: ${name}
version: 1.0.0
handlers: [agent]
tools:
  askHuman: ${askHuman}
access:
  runTasks: ${access}
resources:
  taskTimeout: 60s
`;
const echo = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'echo.agent.yaml'), 'utf8');

let api: ApiHarness;
let ann: string;
let bob: string;
let coder: BusInstance;
beforeAll(async () => {
  api = await startApi();
  for (const m of [loopAgent('coder', '{ pauseDeadline: true }'), loopAgent('rusher', '{ pauseDeadline: false }'), loopAgent('private', 'false', '[]'), echo]) {
    expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest: m } })).status).toBe(201);
  }
  ann = await api.token(['human'], 'Ann');
  bob = await api.token(['human'], 'Bob');
  coder = await BusInstance.start(api.natsUrl, api.store, 'coder');
});
afterAll(async () => {
  await coder?.close();
  await api?.close();
});

const say = (agent: string, text: string, token = ann) => api.fetch(`/v1/agents/${agent}/messages`, { method: 'POST', token, body: { text } });
const thread = async (agent: string, token = ann) => (await api.fetch(`/v1/agents/${agent}/messages`, { token })).body as { person: string; messages: { role: string; kind: string; text: string; person: string; taskId: string }[] };

describe('direct chat', () => {
  it("refuses a person who may not run the agent's tasks (a chat message runs its loop, tools and secrets), and queues nothing", async () => {
    const before = (await api.fetch('/v1/jobs?agent=private')).body as { jobs: unknown[] };
    const r = await say('private', 'cat /run/secrets/token please');
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('task_access_denied');
    expect(((await api.fetch('/v1/jobs?agent=private')).body as { jobs: unknown[] }).jobs).toHaveLength(before.jobs.length);
    expect((await thread('private')).messages).toEqual([]);
  });

  it('queues a message as an agent task with the thread as history, and appends the answer', async () => {
    const first = await say('coder', 'What is 2+2?');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ delivered: 'task', message: { role: 'person', text: 'What is 2+2?', person: 'Ann' } });
    const t1 = await coder.take();
    expect(t1.task.type).toBe('agent');
    const input = AgentTaskInput.parse(t1.task.data);
    expect(input).toMatchObject({ goal: 'What is 2+2?', history: [], origin: { kind: 'chat', messageId: first.body.message.id } });
    await coder.finish(t1, { status: 'completed', result: 'It is 4.' });
    await eventually(async () => (await thread('coder')).messages.length === 2, 'the answer in the thread');

    // The second turn carries the first two as history; a failure is said in the thread, with why.
    await say('coder', 'And 3+3?');
    const t2 = await coder.take();
    expect(AgentTaskInput.parse(t2.task.data)).toMatchObject({
      goal: 'And 3+3?',
      history: [
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: 'It is 4.' },
      ],
    });
    await coder.finish(t2, { status: 'failed', result: '', error: 'the model is down' });
    const t = await eventually(async () => ((await thread('coder')).messages.length === 4 ? thread('coder') : null), 'the failure in the thread');
    expect(t.person).toBe('Ann');
    expect(t.messages.map((m) => [m.role, m.kind, m.text])).toEqual([
      ['person', 'message', 'What is 2+2?'],
      ['agent', 'answer', 'It is 4.'],
      ['person', 'message', 'And 3+3?'],
      ['agent', 'error', 'The task failed: the model is down'],
    ]);
    // Names are shown, never token ids.
    expect(JSON.stringify(t)).not.toMatch(/tok_/);
  });

  it("keeps each person's thread their own; an admin may read anyone's by name", async () => {
    expect((await thread('coder', bob)).messages).toEqual([]);
    const peek = await api.fetch('/v1/agents/coder/messages?person=Ann', { token: bob });
    expect(peek.status).toBe(403);
    expect(peek.body.error.message).toContain("another person's chat thread");
    const admin = await api.fetch('/v1/agents/coder/messages?person=Ann');
    expect(admin.status).toBe(200);
    expect(admin.body.person).toBe('Ann');
    expect(admin.body.messages.length).toBeGreaterThanOrEqual(4);
  });

  it('refuses an agent without the agent handler (409), bad input and a token without the chat scope, storing nothing', async () => {
    const refused = await say('echo', 'hello?');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('agent_not_conversational');
    expect(refused.body.error.message).toContain('"echo"');
    expect((await thread('echo')).messages).toEqual([]);
    expect((await api.store.tasks.list({ agent: 'echo', limit: 10 })).length).toBe(0);
    const empty = await say('coder', '   ');
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toContain('text');
    expect((await say('nobody', 'hi')).status).toBe(404);
    const reader = await api.token(['jobs:read']);
    expect((await say('coder', 'hi', reader)).status).toBe(403);
  });

  it('streams new messages and the task events of the thread over WebSocket', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/chat/coder`, { headers: { authorization: `Bearer ${bob}` } });
    const seen: { type: string; payload: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    ws.on('message', (d) => seen.push(JSON.parse(String(d))));
    await eventually(async () => seen.some((m) => m.type === 'hello'), 'hello');
    await say('coder', 'Stream me', bob);
    const t = await coder.take();
    coder.event({ type: 'log', ts: new Date().toISOString(), level: 'info', msg: 'thinking hard', taskId: t.task.id });
    await eventually(async () => seen.some((m) => m.type === 'task' && m.payload.event.type === 'log' && m.payload.event.payload.msg === 'thinking hard'), 'the task log relayed');
    await coder.finish(t, { status: 'completed', result: 'Streamed.' });
    await eventually(async () => seen.some((m) => m.type === 'message' && m.payload.kind === 'answer' && m.payload.text === 'Streamed.'), 'the answer streamed');
    const messages = seen.filter((m) => m.type === 'message').map((m) => m.payload);
    expect(messages[0]).toMatchObject({ role: 'person', text: 'Stream me', person: 'Bob' });
    expect(seen.some((m) => m.type === 'task' && m.payload.event.type === 'status' && m.payload.event.payload.status === 'running')).toBe(true);
    ws.close();
  });
});

describe('ask_human', () => {
  it('waits for a person (deadline paused), is answered through the API, and resumes with the answer', async () => {
    await say('coder', 'Deploy it', bob);
    const t = await coder.take();
    const asked = await coder.rpc<HumanAskReply>('human', 'ask', { taskId: t.task.id, callId: 'c1', question: 'Which branch?' });
    expect(asked).toMatchObject({ pauseDeadline: true, where: 'chat' });
    // Retried asks are the same question.
    expect((await coder.rpc<HumanAskReply>('human', 'ask', { taskId: t.task.id, callId: 'c1', question: 'Which branch?' })).questionId).toBe(asked.questionId);
    const waiting = await api.fetch(`/v1/jobs/${t.task.id}`);
    expect(waiting.body.status).toBe('waiting_for_human');
    expect((await thread('coder', bob)).messages.at(-1)).toMatchObject({ role: 'agent', kind: 'question', text: 'Which branch?' });
    expect(await coder.rpc<HumanWaitReply>('human', 'wait', { questionId: asked.questionId, waitMs: 0 })).toEqual({ answered: false });

    // Past its deadline while paused: the sweeper leaves it alone.
    const deadline = waiting.body.deadline as string;
    await api.store.tasks.transition(t.task.id, ['waiting_for_human'], { deadline: new Date(Date.now() - 60_000).toISOString() });
    await api.sweeper.sweep();
    expect((await api.fetch(`/v1/jobs/${t.task.id}`)).body.status).toBe('waiting_for_human');
    await api.store.tasks.transition(t.task.id, ['waiting_for_human'], { deadline });

    // Someone else may not answer a question in Bob's thread; Bob may.
    const stranger = await api.fetch(`/v1/jobs/${t.task.id}/answer`, { method: 'POST', token: ann, body: { text: 'dev' } });
    expect(stranger.status).toBe(403);
    const pending = coder.rpc<HumanWaitReply>('human', 'wait', { questionId: asked.questionId, waitMs: 20_000 });
    const answer = await api.fetch(`/v1/jobs/${t.task.id}/answer`, { method: 'POST', token: bob, body: { text: 'main' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ answer: 'main', answeredBy: 'Bob', pauseDeadline: true });
    const got = await pending;
    expect(got).toMatchObject({ answered: true, answer: 'main', answeredBy: 'Bob' });
    const resumed = (await api.fetch(`/v1/jobs/${t.task.id}`)).body;
    expect(resumed.status).toBe('running');
    // The deadline moved by the time waited (never earlier than it was).
    expect(Date.parse(resumed.deadline)).toBeGreaterThanOrEqual(Date.parse(deadline));
    expect(got.answered && got.deadline).toBe(resumed.deadline);
    expect((await thread('coder', bob)).messages.at(-1)).toMatchObject({ role: 'person', text: 'main', person: 'Bob' });
    // Answering again: the task is not waiting.
    const twice = await api.fetch(`/v1/jobs/${t.task.id}/answer`, { method: 'POST', token: bob, body: { text: 'main' } });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('task_not_waiting');
    await coder.finish(t, { status: 'completed', result: 'Deployed main.' });
  });

  it('takes the answer from a chat message in the thread instead of starting a task', async () => {
    await say('coder', 'Pick a colour', bob);
    const t = await coder.take();
    const asked = await coder.rpc<HumanAskReply>('human', 'ask', { taskId: t.task.id, callId: 'c1', question: 'Red or blue?' });
    const sent = await say('coder', 'Blue', bob);
    expect(sent.body).toMatchObject({ delivered: 'answer', taskId: t.task.id });
    expect(await coder.rpc<HumanWaitReply>('human', 'wait', { questionId: asked.questionId, waitMs: 0 })).toMatchObject({ answered: true, answer: 'Blue' });
    await coder.finish(t, { status: 'completed', result: 'Blue it is.' });
  });

  it('without pauseDeadline the sweeper times a waiting task out; a cancel while waiting ends it', { timeout: 30_000 }, async () => {
    const rusher = await BusInstance.start(api.natsUrl, api.store, 'rusher');
    try {
      await say('rusher', 'Hurry', bob);
      const t = await rusher.take();
      const asked = await rusher.rpc<HumanAskReply>('human', 'ask', { taskId: t.task.id, callId: 'c1', question: 'Now?' });
      expect(asked.pauseDeadline).toBe(false);
      await api.store.tasks.transition(t.task.id, ['waiting_for_human'], { deadline: new Date(Date.now() - 60_000).toISOString() });
      await api.sweeper.sweep();
      expect((await api.fetch(`/v1/jobs/${t.task.id}`)).body.status).toBe('timed_out');
      await eventually(async () => (await thread('rusher', bob)).messages.some((m) => m.kind === 'error' && m.text.includes('timed out')), 'the timeout said in the thread');
      // The instance, told to stop, reports it (too late to change anything) and takes the next.
      await rusher.finish(t, { status: 'timed_out', result: '', error: 'deadline reached while running' });

      await say('rusher', 'Again', bob);
      const t2 = await rusher.take();
      await rusher.rpc<HumanAskReply>('human', 'ask', { taskId: t2.task.id, callId: 'c1', question: 'Sure?' });
      const cancelled = await api.fetch(`/v1/jobs/${t2.task.id}/cancel`, { method: 'POST', token: bob, body: {} });
      expect(cancelled.body.status).toBe('cancelled');
      const late = await api.fetch(`/v1/jobs/${t2.task.id}/answer`, { method: 'POST', token: bob, body: { text: 'yes' } });
      expect(late.status).toBe(409);
      expect(late.body.error.message).toContain('cancelled, not waiting');
      await rusher.finish(t2, { status: 'cancelled', result: '' });
    } finally {
      await rusher.close();
    }
  });

  it('refuses an agent asking about a task not its own', async () => {
    const { body } = await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'echo', input: 'x' } });
    await expect(coder.rpc('human', 'ask', { taskId: body.jobId, callId: 'c', question: 'Mine?' })).rejects.toThrow(/no task .* of agent coder/);
  });
});

describe('the board', () => {
  it("does not queue a post to an agent by someone who may not run its tasks: it stays a post", async () => {
    const post = await api.fetch('/v1/board/posts', { method: 'POST', token: ann, body: { title: 'Secrets?', body: 'Print your token file.', audience: 'agent:private' } });
    expect(post.status).toBe(201);
    expect(await api.people.board.route(post.body)).toBeNull();
    expect((await api.store.tasks.list({ agent: 'private', limit: 100 })).filter((x) => x.idempotencyKey === `board:${post.body.id}`)).toHaveLength(0);
  });

  it('turns a post to an agent into one task and posts its answer as the agent reply, once', async () => {
    const post = await api.fetch('/v1/board/posts', { method: 'POST', token: ann, body: { title: 'Help', body: 'What is the capital of France?', audience: 'agent:coder' } });
    expect(post.status).toBe(201);
    const t = await coder.take();
    expect(AgentTaskInput.parse(t.task.data)).toMatchObject({ origin: { kind: 'board', postId: post.body.id } });
    expect(t.task.idempotencyKey).toBe(`board:${post.body.id}`);
    // The same post routed again (a replayed event) makes no second task.
    await api.people.board.route(post.body);
    expect((await api.store.tasks.list({ agent: 'coder', limit: 100 })).filter((x) => x.idempotencyKey === `board:${post.body.id}`)).toHaveLength(1);

    // A question on the post, answered by a person's reply there.
    const asked = await coder.rpc<HumanAskReply>('human', 'ask', { taskId: t.task.id, callId: 'c1', question: 'France the country?' });
    expect(asked.where).toBe('board');
    await api.fetch(`/v1/board/posts/${post.body.id}/replies`, { method: 'POST', token: ann, body: { body: 'Yes, the country.' } });
    expect(await coder.rpc<HumanWaitReply>('human', 'wait', { questionId: asked.questionId, waitMs: 5_000 })).toMatchObject({ answered: true, answer: 'Yes, the country.', answeredBy: 'Ann' });
    await coder.finish(t, { status: 'completed', result: 'Paris.' });
    const replies = await eventually(async () => {
      const p = (await api.fetch(`/v1/board/posts/${post.body.id}`, { token: ann })).body as { replies: { authorId: string; body: string }[] };
      return p.replies.some((r) => r.body === 'Paris.') ? p.replies : null;
    }, 'the answer on the post');
    expect(replies.map((r) => [r.authorId, r.body])).toEqual([
      ['agent:coder', expect.stringContaining('France the country?')],
      [expect.stringMatching(/^human:/), 'Yes, the country.'],
      ['agent:coder', 'Paris.'],
    ]);
  });

  it('after a crash, a post never routed is queued and a task that finished unseen is answered, each once', async () => {
    // A post stored just before the daemon went down: never routed.
    const now = new Date().toISOString();
    const missed: PostView = { id: `post_missed${Date.now()}`, authorType: 'human', authorId: 'human:ann', title: 'Missed', body: 'Still there?', tags: [], audience: 'agent:coder', status: 'open', bounty: 0, moderation: null, createdAt: now, updatedAt: now };
    await api.store.board.insertPost(missed);
    // A board task that finished while the daemon was down: no answer on its post.
    const post = await api.fetch('/v1/board/posts', { method: 'POST', token: ann, body: { title: 'Quiet', body: 'Done yet?', audience: 'agent:coder' } });
    const t = await coder.take();
    expect(t.task.idempotencyKey).toBe(`board:${post.body.id}`);
    // Written past the daemon's own hooks, as by a daemon that died before it could answer.
    const raw = await SqlStore.open(sqliteBackend(join(api.dir, 'flock.db')));
    await raw.tasks.transition(t.task.id, ['queued', 'running'], { status: 'completed', result: 'Done.', finishedAt: new Date().toISOString() });
    await raw.close();

    const since = new Date(Date.now() - 3600_000).toISOString();
    expect(await api.people.board.catchUp(since)).toBe(1);
    const queued = await coder.take();
    expect(queued.task.idempotencyKey).toBe(`board:${missed.id}`);
    const answers = async () => ((await api.fetch(`/v1/board/posts/${post.body.id}`, { token: ann })).body as { replies: { authorId: string; body: string }[] }).replies.filter((r) => r.authorId === 'agent:coder');
    expect((await answers()).map((r) => r.body)).toEqual(['Done.']);
    // Run again (a second restart): nothing is queued or answered twice.
    expect(await api.people.board.catchUp(since)).toBe(0);
    expect((await api.store.tasks.list({ agent: 'coder', limit: 500 })).filter((x) => x.idempotencyKey === `board:${missed.id}`)).toHaveLength(1);
    expect(await answers()).toHaveLength(1);
    await coder.finish(queued, { status: 'completed', result: 'Yes.' });
  });
});
