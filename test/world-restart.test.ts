import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorldSnapshot } from '@aiflock/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The village survives the real daemon restarting, started and stopped by the real CLI: a
 * clean restart resumes the exact world (snapshot on stop), and after a SIGKILL the snapshot
 * plus the replayed input log bring back every acknowledged input, so a walk that was under
 * way when the daemon died is finished after it comes back. Villagers have zero replicas:
 * the world does not need their sandboxes to run.
 */
let flock: TestFlock;

const villager = (name: string, home: string) => `apiVersion: aiflock/v1
kind: Agent
name: ${name}
version: 1.0.0
handlers: [echo]
replicas: 0
village:
  policy: rules
  home: ${home}
`;

const world = async () => (await flock.api('/v1/world')).body as WorldSnapshot;
const find = async (name: string) => (await world()).villagers.find((v) => v.name === name);

beforeAll(async () => {
  flock = await testFlock();
  flock.env['AIFLOCK_WORLD_TICK_MS'] = '50';
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
  for (const [name, home] of [['ann', 'home-rose'], ['bob', 'cafe']] as const) {
    const file = join(flock.home, `${name}.agent.yaml`);
    await writeFile(file, villager(name, home));
    const d = await flock.cli(['agent', 'deploy', file]);
    expect(d.code, d.stderr).toBe(0);
  }
  await eventually(async () => (await world()).villagers.length === 2, 'both villagers in the village');
});

afterAll(async () => flock?.cleanup());

it('a clean restart resumes the same world', async () => {
  const moved = await flock.api('/v1/agents/ann/move', { method: 'POST', body: { to: 'park' } });
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);
  const park = (await world()).landmarks.find((l) => l.name === 'park')!;
  await eventually(async () => {
    const a = await find('ann');
    return a?.x === park.entry.x && a.y === park.entry.y;
  }, 'ann in the park');
  expect((await flock.api('/v1/agents/bob/action', { method: 'POST', body: { type: 'do', activity: 'brewing coffee' } })).status).toBe(200);
  const before = await world();

  const down = await flock.cli(['down', '--keep-agents']);
  expect(down.code, down.stderr).toBe(0);
  const up = await flock.cli(['up', '--no-demo']);
  expect(up.code, up.stderr).toBe(0);

  const after = await world();
  expect(after.villagers).toEqual(before.villagers);
  expect(after.seq).toBe(before.seq);
  // And it keeps running on its own: the tick advances with nobody watching or acting.
  await eventually(async () => (await world()).tick > after.tick + 5, 'the world ticking after the restart');
});

it('after a SIGKILL, the input log replays every acknowledged input', async () => {
  const market = (await world()).landmarks.find((l) => l.name === 'market')!;
  expect((await flock.api('/v1/agents/bob/action', { method: 'POST', body: { type: 'do', activity: 'closing the café' } })).status).toBe(200);
  const moved = await flock.api('/v1/agents/ann/move', { method: 'POST', body: { to: 'market' } });
  expect(moved.status).toBe(200);
  expect(moved.body.path).toBeGreaterThan(10);
  // Killed mid-walk: no snapshot on the way down.
  await flock.killDaemon();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);

  expect((await find('bob'))?.activity).toBe('closing the café');
  await eventually(async () => {
    const a = await find('ann');
    return a?.x === market.entry.x && a.y === market.entry.y && a.goal === null;
  }, 'ann finishing her walk to the market after the restart');
});
