import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Perception, RpcReply, subjects, type CreatedToken, type SystemStatus, type WorldSnapshot } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * What a villager was told, and what it was not told yet, survives the real daemon
 * restarting: a person's reply to its post made just before the restart arrives with its
 * next perception after it, exactly once, and what it heard before the restart is not heard
 * again. Perceptions are asked over the real bus on the villager's instance subject.
 *
 * Ann's own village loop takes its first turn when her sandbox starts and then sleeps for
 * an hour, so after that first turn the test is the only one perceiving as her. Her
 * manifest asks for the llm policy and the flock has no model, so the world shows `rules`
 * once that turn is over (she declares her fallback after perceiving).
 */
const codec = JSONCodec();
let flock: TestFlock;
let bus: NatsConnection;
let ann: string;
/** Ann's post, from the first test. */
let postId: string;

const manifest = (name: string, replicas: number, policy: string) => `apiVersion: aiflock/v1
kind: Agent
name: ${name}
version: 1.0.0
handlers: [echo]
replicas: ${replicas}
village:
  policy: ${policy}
  every: 1h
  decisionTimeout: 100
  home: cafe
`;

const world = async () => (await flock.api('/v1/world')).body as WorldSnapshot;
const find = async (name: string) => (await world()).villagers.find((v) => v.name === name);

async function rpc(service: string, op: string, payload: unknown): Promise<unknown> {
  const m = await bus.request(subjects.rpc(ann, service, op), codec.encode(payload), { timeout: 10_000 });
  const r = RpcReply.parse(codec.decode(m.data));
  if (!r.ok) throw new Error(`${service}.${op}: ${r.error.code} ${r.error.message}`);
  return r.result;
}
const perceive = async () => Perception.parse(await rpc('world', 'perceive', {}));

async function walk(name: string, to: string): Promise<void> {
  const r = await flock.api(`/v1/agents/${name}/move`, { method: 'POST', body: { to } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const entry = (await world()).landmarks.find((l) => l.name === to)!.entry;
  await eventually(async () => {
    const v = await find(name);
    return v?.x === entry.x && v.y === entry.y && v.goal === null;
  }, `${name} at the ${to}`);
}

const running = (agent: string) =>
  eventually(async () => {
    const view = (await flock.api(`/v1/agents/${agent}`)).body as { instances?: { id: string; status: string }[] };
    return view.instances?.find((i) => i.status === 'running')?.id;
  }, `a running ${agent} instance`, 180_000);

beforeAll(async () => {
  flock = await testFlock();
  flock.env['AIFLOCK_WORLD_TICK_MS'] = '50';
  flock.env['AIFLOCK_OLLAMA_URL'] = 'http://127.0.0.1:9'; // no model: ann's llm policy falls back at once
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  for (const [name, replicas, policy] of [['ann', 1, 'llm'], ['bob', 0, 'rules']] as const) {
    const file = join(flock.home, `${name}.agent.yaml`);
    await writeFile(file, manifest(name, replicas, policy));
    const d = await flock.cli(['agent', 'deploy', file]);
    expect(d.code, d.stderr).toBe(0);
  }
  ann = await running('ann');
  await eventually(async () => (await find('ann'))?.policy === 'rules', "ann's first turn over (her fallback declared)", 120_000);
  const status = (await flock.api('/v1/status')).body as SystemStatus;
  const url = /nats:\/\/[\d.]+:\d+/.exec(status.checks['nats']!.detail)![0];
  const creds = await flock.cliJson<{ creds: string }>(['nats', 'creds', '--name', 'perception-test']);
  bus = await connect({ servers: url, authenticator: credsAuthenticator(new TextEncoder().encode(creds.creds)), maxReconnectAttempts: -1, inboxPrefix: subjects.inbox(ann) });
}, 400_000);

afterAll(async () => {
  await bus?.close();
  await flock?.cleanup();
});

it('a reply made before a restart reaches the villager once after it, and what it heard is not heard again', async () => {
  // Ann and Bob meet in the park; Bob speaks to her and she hears it.
  await walk('ann', 'park');
  await walk('bob', 'park');
  const said = await flock.api('/v1/agents/bob/action', { method: 'POST', body: { type: 'talk', text: 'the mill is by the river', to: 'ann' } });
  expect(said.status, JSON.stringify(said.body)).toBe(200);
  const heard = await perceive();
  expect(heard.heard.map((h) => h.text)).toContain('the mill is by the river');

  // Ann asks on the board (over the bus, as herself); a person replies after her last perception.
  const post = (await rpc('board', 'post', { title: 'Where is the mill?', body: 'I need flour.' })) as { id: string };
  const person = await flock.cliJson<CreatedToken>(['token', 'create', '--name', 'carol', '--scope', 'human']);
  const made = await flock.api(`/v1/board/posts/${post.id}/replies`, { method: 'POST', token: person.token, body: { body: 'Follow the river north.' } });
  expect(made.status, JSON.stringify(made.body)).toBe(201);

  const down = await flock.cli(['down', '--keep-agents']);
  expect(down.code, down.stderr).toBe(0);
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  expect(await running('ann')).toBe(ann); // the same sandbox, adopted: its loop is still asleep

  const after = await perceive();
  const reply = made.body as { id: string; authorId: string; authorName: string };
  expect(reply.authorId).toMatch(/^human:tok_/);
  expect(reply.authorName).toBe('carol'); // the token's name, not its id
  expect(after.replies).toEqual([{ postId: post.id, replyId: reply.id, author: reply.authorId, authorName: 'carol', body: 'Follow the river north.' }]);
  expect(after.heard.map((h) => h.text)).not.toContain('the mill is by the river');
  expect(after.tick).toBeGreaterThanOrEqual(heard.tick);

  const again = await perceive();
  expect(again.replies).toEqual([]);
  expect(again.heard).toEqual([]);
  postId = post.id;
}, 600_000);

it('after a SIGKILL, the same holds, and what is heard after it is not lost behind the ticks perceived before it', async () => {
  const said = await flock.api('/v1/agents/bob/action', { method: 'POST', body: { type: 'talk', text: 'and the baker is at the market', to: 'ann' } });
  expect(said.status, JSON.stringify(said.body)).toBe(200);
  const saidAt = (await find('bob'))!.said!.tick;
  const person = await flock.cliJson<CreatedToken>(['token', 'create', '--name', 'dave', '--scope', 'human']);
  const made = await flock.api(`/v1/board/posts/${postId}/replies`, { method: 'POST', token: person.token, body: { body: 'Or ask the miller.' } });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  // Idle ticks are not logged, so the world will come back at the tick of that last input,
  // well behind the tick Ann perceives at now.
  await eventually(async () => (await world()).tick > saidAt + 200, 'two hundred idle ticks');
  const before = await perceive();
  expect(before.heard.map((h) => h.text)).toEqual(['and the baker is at the market']);
  expect(before.replies.map((r) => r.body)).toEqual(['Or ask the miller.']);
  // Then a reply nobody has perceived yet, and the daemon dies: no clean stop, no snapshot.
  const late = await flock.api(`/v1/board/posts/${postId}/replies`, { method: 'POST', token: person.token, body: { body: 'The miller is out today.' } });
  expect(late.status, JSON.stringify(late.body)).toBe(201);
  await flock.killDaemon();
  // Slow ticks from here, so Bob speaks again long before the world is back at Ann's tick.
  flock.env['AIFLOCK_WORLD_TICK_MS'] = '1000';
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  expect(await running('ann')).toBe(ann);
  const again = await flock.api('/v1/agents/bob/action', { method: 'POST', body: { type: 'talk', text: 'good luck with the flour', to: 'ann' } });
  expect(again.status, JSON.stringify(again.body)).toBe(200);
  // The case this is about: Bob spoke at a tick Ann had already perceived before the crash.
  expect((await find('bob'))!.said!.tick).toBeLessThanOrEqual(before.tick);

  const after = await perceive();
  expect(after.replies.map((r) => [r.replyId, r.body])).toEqual([[(late.body as { id: string }).id, 'The miller is out today.']]);
  expect(after.heard.map((h) => h.text)).toEqual(['good luck with the flour']);
  const next = await perceive();
  expect([next.replies, next.heard]).toEqual([[], []]);
}, 600_000);
