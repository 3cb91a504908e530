import { WorldMessage, type WorldSnapshot } from '@aiflock/protocol';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorldApi, until } from './harness.js';

let api: Awaited<ReturnType<typeof startWorldApi>>;

beforeAll(async () => {
  api = await startWorldApi();
  await api.villager('ann', 'policy: rules\nhome: home');
  await api.villager('bob', 'policy: llm\nhome: cafe');
});
afterAll(async () => api?.close());

const world = async (): Promise<WorldSnapshot> => (await api.fetch('/v1/world')).body as WorldSnapshot;
const villager = async (name: string) => (await world()).villagers.find((v) => v.name === name);
const idle = (name: string) => until(async () => (await villager(name))?.goal === null, `${name} to stand still`);

describe('GET /v1/world and the map', () => {
  it('shows deployed villagers at their homes, with the map and landmarks', async () => {
    const w = await world();
    expect(w.map).toEqual({ name: 'village', width: 40, height: 30, tileSize: 16 });
    expect(w.tickMs).toBe(20);
    const cafe = w.landmarks.find((l) => l.name === 'cafe')!;
    expect(w.villagers.find((v) => v.name === 'bob')).toMatchObject({ x: cafe.entry.x, y: cafe.entry.y, policy: 'llm', status: 'active' });
    const ann = w.villagers.find((v) => v.name === 'ann')!;
    const home = w.landmarks.find((l) => l.x <= ann.x && ann.x < l.x + l.width && l.y <= ann.y && ann.y < l.y + l.height);
    expect(home?.kind).toBe('home'); // `home: home` picks one of the houses
  });

  it('serves the Tiled map and tileset, cacheable by ETag', async () => {
    const r = await api.fetch('/v1/world/map');
    expect(r.status).toBe(200);
    expect(r.body.map.layers.map((l: { name: string }) => l.name)).toEqual(['ground', 'landmarks']);
    expect(r.body.tilesets['village.tsj'].tiles[0].properties).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'walkable' })]));
    const etag = r.headers.get('etag')!;
    expect(r.headers.get('cache-control')).toContain('max-age');
    const again = await fetch(`${api.url}/v1/world/map`, { headers: { authorization: `Bearer ${api.adminToken}`, 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('needs world:read to look and world:act to move', async () => {
    const reader = await api.token(['world:read']);
    expect((await api.fetch('/v1/world', { token: reader })).status).toBe(200);
    expect((await api.fetch('/v1/world', { token: null })).status).toBe(401);
    const r = await api.fetch('/v1/agents/ann/move', { method: 'POST', body: { dx: 1, dy: 0 }, token: reader });
    expect([r.status, r.body.error.code]).toEqual([403, 'forbidden']);
  });
});

describe('moves and actions by people', () => {
  it('walks a villager to a landmark at one tile per tick, audited', async () => {
    const actor = await api.token(['world:act']);
    const r = await api.fetch('/v1/agents/ann/move', { method: 'POST', body: { to: 'board' }, token: actor });
    expect(r.status).toBe(200);
    const board = (await world()).landmarks.find((l) => l.name === 'board')!;
    expect(r.body).toEqual({ goal: board.entry, path: expect.any(Number) });
    expect(r.body.path).toBeGreaterThan(5);
    await until(async () => {
      const a = await villager('ann');
      return a?.x === board.entry.x && a.y === board.entry.y;
    }, 'ann at the board');
    const said = await api.fetch('/v1/agents/ann/action', { method: 'POST', body: { type: 'use_board' }, token: actor });
    expect(said.status).toBe(200);
    expect((await villager('ann'))?.activity).toBe('reading the board');
    const audit = await api.store.audit.list({ limit: 50 });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['world.move', 'world.act']));
    expect(audit.find((e) => e.action === 'world.move')).toMatchObject({ resource: 'agent/ann', outcome: 'ok' });
  });

  it('GET /v1/agents/{name} carries its world block', async () => {
    const r = await api.fetch('/v1/agents/ann');
    expect(r.body.world).toMatchObject({ policy: 'rules', model: null, status: 'active', activity: 'reading the board' });
    expect(r.body.world.recent.map((x: { what: string }) => x.what)).toEqual(['set off for the Bulletin board', 'read the board']);
  });

  const bad: [string, string, unknown, number, string, RegExp][] = [
    ['a step of two tiles', 'move', { dx: 2, dy: 0 }, 400, 'validation_failed', /body/],
    ['a negative tile', 'move', { x: -1, y: 0 }, 400, 'validation_failed', /body/],
    ['a mixed move', 'move', { dx: 1, dy: 0, x: 3, y: 3 }, 400, 'validation_failed', /body/],
    ['a bad landmark name', 'move', { to: 'Moon!' }, 400, 'validation_failed', /landmark name/],
    ['an unknown landmark', 'move', { to: 'moon' }, 422, 'move_invalid', /no landmark "moon"; known: home-rose/],
    ['a tile in the river', 'move', { x: 17, y: 10 }, 422, 'move_invalid', /\(17,10\) is a wall or water/],
    ['a tile off the map', 'move', { x: 40, y: 0 }, 422, 'move_invalid', /outside the 40x30 map/],
    ['an empty talk', 'action', { type: 'talk', text: '   ' }, 400, 'validation_failed', /something to say/],
    ['an unknown action', 'action', { type: 'fly' }, 400, 'validation_failed', /body/],
    ['use_board away from the board', 'action', { type: 'use_board' }, 422, 'action_invalid', /not at the board/],
  ];
  it.each(bad)('refuses %s with a clear error and changes nothing', async (_what, op, body, status, code, message) => {
    await idle('bob');
    const before = await world();
    const r = await api.fetch(`/v1/agents/bob/${op}`, { method: 'POST', body });
    expect([r.status, r.body.error.code]).toEqual([status, code]);
    expect(r.body.error.message).toMatch(message);
    const after = await world();
    expect(after.villagers).toEqual(before.villagers);
  });

  it('refuses a villager that does not exist, and an invalid name', async () => {
    const r = await api.fetch('/v1/agents/zed/move', { method: 'POST', body: { dx: 1, dy: 0 } });
    expect([r.status, r.body.error.code]).toEqual([404, 'villager_not_found']);
    const n = await api.fetch('/v1/agents/Not_A_Name/move', { method: 'POST', body: { dx: 1, dy: 0 } });
    expect([n.status, n.body.error.code]).toEqual([400, 'validation_failed']);
  });

  it('a compute-frozen villager stands still and refuses moves until thawed', async () => {
    await api.economy.compute.setFrozen({ agent: 'bob', frozen: true, actor: 'admin' });
    await until(async () => (await villager('bob'))?.status === 'frozen', 'bob frozen');
    const r = await api.fetch('/v1/agents/bob/move', { method: 'POST', body: { to: 'park' } });
    expect([r.status, r.body.error.code]).toEqual([409, 'villager_inactive']);
    await api.economy.compute.setFrozen({ agent: 'bob', frozen: false, actor: 'admin' });
    await until(async () => (await villager('bob'))?.status === 'active', 'bob thawed');
  });

  it('a quarantined deployment is a quarantined villager; a removed one leaves', async () => {
    await api.villager('cy');
    const rec = (await api.store.deployments.get('cy'))!;
    await api.store.deployments.upsert({ ...rec, state: 'quarantined' });
    await until(async () => (await villager('cy'))?.status === 'quarantined', 'cy quarantined');
    await api.deployments.remove('cy');
    await until(async () => (await villager('cy')) === undefined, 'cy gone');
  });
});

describe('metrics', () => {
  it('counts villagers, watchers, inputs and tick time', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/world`, { headers: { authorization: `Bearer ${api.adminToken}` } });
    await new Promise((r) => ws.once('message', r));
    const text = await (await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${api.adminToken}` } })).text();
    ws.close();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('aiflock_world_villagers')).toBe((await world()).villagers.length);
    expect(value('aiflock_world_ws_clients')).toBeGreaterThanOrEqual(1);
    expect(value('aiflock_world_tick_seconds_count')).toBeGreaterThan(10);
    expect(text).toMatch(/aiflock_world_inputs_total\{kind="move",outcome="applied"\} [1-9]/);
    expect(text).toMatch(/aiflock_world_inputs_total\{kind="move",outcome="refused"\} [1-9]/);
  });
});

describe('WS /v1/ws/world', () => {
  const open = (token = api.adminToken) => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/world`, { headers: { authorization: `Bearer ${token}` } });
    const messages: WorldMessage[] = [];
    ws.on('message', (d) => messages.push(WorldMessage.parse(JSON.parse(String(d)))));
    return { ws, messages };
  };

  it('sends a snapshot, then deltas in seq order with no gaps', async () => {
    const { ws, messages } = open(await api.token(['world:read']));
    await until(() => messages.length > 0, 'the snapshot');
    expect(messages[0]!.type).toBe('snapshot');
    await api.fetch('/v1/agents/ann/move', { method: 'POST', body: { to: 'market' } });
    await idle('ann');
    await until(() => messages.some((m) => m.type === 'delta' && m.delta.changes.some((c) => c.type === 'goal' && c.goal === null && c.name === 'ann')), 'ann arriving');
    const first = messages[0]!.type === 'snapshot' ? messages[0]!.snapshot.seq : -1;
    const seqs = messages.slice(1).map((m) => (m.type === 'delta' ? m.delta.seq : -1));
    expect(seqs.length).toBeGreaterThan(5);
    expect(seqs).toEqual(seqs.map((_, i) => first + 1 + i));
    // Folding the deltas into the snapshot gives the world the API shows.
    const folded = new Map((messages[0] as { snapshot: WorldSnapshot }).snapshot.villagers.map((v) => [v.name, { ...v }]));
    for (const m of messages.slice(1)) {
      if (m.type !== 'delta') continue;
      for (const c of m.delta.changes) {
        if (c.type === 'moved') Object.assign(folded.get(c.name)!, { x: c.x, y: c.y });
      }
    }
    const ann = await villager('ann');
    expect({ x: folded.get('ann')!.x, y: folded.get('ann')!.y }).toEqual({ x: ann!.x, y: ann!.y });
    ws.close();
  });

  it('lets a browser watch with its session cookie', async () => {
    const human = await api.token(['human']);
    const session = await fetch(`${api.url}/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: human }) });
    expect(session.status).toBe(201);
    const cookie = session.headers.get('set-cookie')!.split(';')[0]!;
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/world`, { headers: { cookie, origin: api.url } });
    const first = await new Promise<WorldMessage>((resolve, reject) => {
      ws.once('message', (d) => resolve(WorldMessage.parse(JSON.parse(String(d)))));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
    expect(first.type === 'snapshot' && first.snapshot.villagers.map((v) => v.name)).toEqual(expect.arrayContaining(['ann', 'bob']));
    ws.close();
  });

  it('refuses a watcher without a token', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/world`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);
  });
});
