import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedToken, Villager, WorldSnapshot } from '@aiflock/protocol';
import { VILLAGERS, startVillage } from '../testkit/agents.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The demo village end to end: the three villagers of examples/village deployed into real
 * Docker sandboxes of a real daemon, each running the SDK's village loop over the bus. They
 * move, talk, post questions on the board, and a person's reply over HTTP is read by the
 * villager on its next turn: it thanks them on the board and remembers it. The flock has no
 * language model, so the llm villager says plainly that it follows its rules.
 */
let flock: TestFlock;

interface Post {
  id: string;
  authorId: string;
  title: string;
  replies?: { authorId: string; body: string }[];
}

const world = async () => (await flock.api('/v1/world')).body as WorldSnapshot;
const villager = async (name: string) => (await world()).villagers.find((v) => v.name === name);
const postsBy = async (agent: string) => ((await flock.api(`/v1/board/posts?author=agent:${agent}`)).body as { posts: Post[] }).posts;

beforeAll(async () => {
  flock = await testFlock();
  await startVillage(flock);
  await eventually(async () => {
    const list = (await flock.api('/v1/agents')).body as { agents: { name: string; replicas: { ready: number } }[] };
    return VILLAGERS.every((n) => list.agents.find((a) => a.name === n)?.replicas.ready === 1);
  }, 'three villagers ready', 180_000);
}, 400_000);

afterAll(async () => {
  await flock?.cleanup();
});

describe('the demo village', () => {
  it('has the three villagers in the world, each walking away from where it started', async () => {
    const start = await eventually(async () => {
      const w = await world();
      return VILLAGERS.every((n) => w.villagers.some((v) => v.name === n)) ? w : null;
    }, 'the villagers in the world');
    const at = new Map(start.villagers.map((v) => [v.name, `${v.x},${v.y}`]));
    const moved = new Set<string>();
    await eventually(async () => {
      for (const v of (await world()).villagers) if (VILLAGERS.includes(v.name) && `${v.x},${v.y}` !== at.get(v.name)) moved.add(v.name);
      return moved.size === VILLAGERS.length;
    }, 'every villager to move', 120_000);
  }, 200_000);

  it('says plainly that the llm villager follows its rules when the flock has no model', async () => {
    const scholar = await eventually(async () => {
      const v = await villager('scholar');
      return v?.policy === 'rules' ? v : null;
    }, 'the scholar to declare its fallback', 120_000);
    expect(scholar.model).toBeNull();
    expect((await villager('baker'))).toMatchObject({ policy: 'rules', model: null });
  }, 150_000);

  it('posts questions from each persona on the board', async () => {
    for (const name of VILLAGERS) {
      const posts = await eventually(async () => {
        const p = await postsBy(name);
        return p.length > 0 ? p : null;
      }, `a question from ${name}`, 180_000);
      expect(posts[0]!.authorId).toBe(`agent:${name}`);
      expect(posts[0]!.title).toMatch(/\?$/);
    }
  }, 600_000);

  it('has villagers talk to each other when they meet', async () => {
    const said = await eventually(async () => {
      const w = await world();
      return w.villagers.find((v: Villager) => VILLAGERS.includes(v.name) && v.said !== null) ?? null;
    }, 'a villager to say something', 240_000);
    expect(said.said!.text.length).toBeGreaterThan(0);
  }, 300_000);

  it("reads a person's reply on its next turn: thanks them on the board and remembers it", async () => {
    const person = await flock.cliJson<CreatedToken>(['token', 'create', '--name', 'alice', '--scope', 'human']);
    const [question] = await postsBy('baker');
    const made = await flock.api(`/v1/board/posts/${question!.id}/replies`, { method: 'POST', token: person.token, body: { body: 'Try the mill by the river, Bea.' } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const thanks = await eventually(async () => {
      const post = (await flock.api(`/v1/board/posts/${question!.id}`)).body as Post;
      return post.replies?.find((r) => r.authorId === 'agent:baker') ?? null;
    }, 'the baker to answer the reply', 120_000);
    expect(thanks.body).toMatch(/^Thank you, /);
    const memory = await eventually(async () => {
      const r = await flock.api('/v1/memory/baker?q=mill%20by%20the%20river&k=20');
      const found = (r.body as { memories?: { kind: string; text: string }[] }).memories?.find((m) => m.kind === 'reply' && m.text.includes('Try the mill by the river'));
      return found ?? null;
    }, 'the reply in the baker memory', 60_000);
    expect(memory.text).toContain(`replied to my post ${question!.id}`);
  }, 200_000);
});
