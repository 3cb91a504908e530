import { Perception, RpcReply, subjects } from '@aiflock/protocol';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorldApi, until } from './harness.js';

/**
 * The world ops agents call over the real bus: `agent.<id>.rpc.world.<op>` through a real
 * nats-server to the daemon's RPC router. The villager is always the caller's own agent.
 */
const codec = JSONCodec();
let api: Awaited<ReturnType<typeof startWorldApi>>;
let nc: NatsConnection;

beforeAll(async () => {
  api = await startWorldApi();
  await api.villager('ann', 'policy: rules\nhome: board');
  await api.villager('bob', 'policy: rules\nhome: board');
  nc = await connect({ servers: api.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await api?.close();
});

async function call(instance: string, op: string, payload: unknown): Promise<RpcReply> {
  const m = await nc.request(subjects.rpc(instance, 'world', op), codec.encode(payload), { timeout: 5_000 });
  return RpcReply.parse(codec.decode(m.data));
}
const ok = async (instance: string, op: string, payload: unknown) => {
  const r = await call(instance, op, payload);
  if (!r.ok) throw new Error(`${op}: ${r.error.code} ${r.error.message}`);
  return r.result as never;
};
const at = (name: string) => api.world.api.host.engine.villager(name)!;

describe('world ops on the bus', () => {
  it('perceive: itself, landmarks, neighbours and its economic standing', async () => {
    const p = Perception.parse(await ok('ann-1', 'perceive', {}));
    expect(p.self.name).toBe('ann');
    expect(p.at).toBe('board');
    expect(p.nearby.map((n) => n.name)).toEqual(['bob']);
    expect(p.landmarks.length).toBeGreaterThanOrEqual(5);
    expect(p.economy).toEqual({ balanceCents: 0, tier: expect.any(Number), tierName: expect.any(String) });
  });

  it('move and act move and voice the caller only; heard lines and board replies come with the next perception', async () => {
    const moved = await ok('ann-1', 'move', { dx: 1, dy: 0 });
    expect(moved).toMatchObject({ path: 1 });
    await ok('bob-1', 'act', { type: 'talk', text: 'good morning, ann', to: 'ann' });
    const p = Perception.parse(await ok('ann-1', 'perceive', {}));
    expect(p.heard).toEqual([{ from: 'bob', text: 'good morning, ann', tick: expect.any(Number) }]);
    expect(Perception.parse(await ok('ann-1', 'perceive', {})).heard).toEqual([]); // only what is new

    // Ann posts on the board (as herself, over the board op), a person replies.
    const post = await api.economy.board.createPost({ kind: 'agent', name: 'ann' }, { title: 'Where is the café?', body: 'Asking for a friend.', tags: [], audience: 'public' });
    await api.economy.board.reply({ kind: 'human', id: 'carol' }, { postId: post.id, body: 'North-east, past the bridge.' });
    // Her own reply to it is not news to her; the person's comes with her next perception, once.
    await api.economy.board.reply({ kind: 'agent', name: 'ann' }, { postId: post.id, body: 'Anyone?' });
    const { replies } = Perception.parse(await ok('ann-1', 'perceive', {}));
    expect(replies).toEqual([{ postId: post.id, replyId: expect.any(String), author: 'human:carol', authorName: 'someone', body: 'North-east, past the bridge.' }]);
    expect(Perception.parse(await ok('ann-1', 'perceive', {})).replies).toEqual([]);

    await ok('ann-1', 'declare', { policy: 'llm', model: 'default' });
    expect(at('ann')).toMatchObject({ policy: 'llm', model: 'default' });
  });

  it('attack: an instance cannot move or voice another villager', async () => {
    const before = at('ann');
    // No field names the villager: naming one is refused by the strict schema.
    const r = await call('bob-1', 'move', { name: 'ann', dx: 1, dy: 0 });
    expect(r.ok === false && r.error.code).toBe('validation_failed');
    const a = await call('bob-1', 'act', { type: 'talk', text: 'I am ann', name: 'ann' });
    expect(a.ok === false && a.error.code).toBe('validation_failed');
    // Bob's own move moves bob, never ann.
    await ok('bob-1', 'move', { to: 'cafe' });
    await until(() => at('bob').goal === null, 'bob arriving');
    expect(at('ann')).toEqual(before);
    // A subject naming no running instance is refused before any op runs.
    const ghost = await call('ann-9', 'move', { dx: 1, dy: 0 });
    expect(ghost.ok === false && ghost.error.code).toBe('rpc_unknown_caller');
    expect(at('ann')).toEqual(before);
  });

  it('bad input gets a clear error and changes nothing', async () => {
    const before = at('ann');
    const r = await call('ann-1', 'move', { x: 17, y: 10 });
    expect(r.ok === false && [r.error.code, r.error.message]).toEqual(['move_invalid', 'x, y: (17,10) is a wall or water']);
    const t = await call('ann-1', 'act', { type: 'talk', text: 'x'.repeat(501) });
    expect(t.ok === false && t.error.code).toBe('validation_failed');
    expect(at('ann')).toEqual(before);
  });
});
