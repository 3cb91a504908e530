import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorldInput, WorldState } from '@aiflock/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { DEFAULT_MAP, loadMap, type LoadedMap } from '../../src/world/load-map.js';
import { WorldHost } from '../../src/world/world-host.js';

/**
 * The host's persistence on a real SQLite file: idle ticks write nothing, a snapshot every N
 * changed ticks plus the input log since, and reopening after a crash (no final snapshot)
 * replays to exactly the state the live world had at its last logged tick.
 */
let dir: string;
let loaded: LoadedMap;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-world-persist-'));
  loaded = await loadMap(DEFAULT_MAP);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open = async (store: SqlStore, snapshotEveryTicks = 25) => WorldHost.open({ loaded, engine: { tickMs: 250, seed: 11 }, store: store.world, snapshotEveryTicks, log: () => undefined });

it('crash and reopen: snapshot + input log replay to the live state at the last logged tick', async () => {
  const file = join(dir, 'crash.db');
  const store = await SqlStore.open(sqliteBackend(file));
  // One snapshot about half way (after 120 ticks that changed something); the log holds the rest.
  const host = await open(store, 120);
  const states = new Map<number, WorldState>();
  const landmarks = loaded.map.landmarks.map((l) => l.name);
  const step = async (inputs: WorldInput[]) => {
    const done = inputs.map((i) => host.submit(i).catch(() => undefined));
    host.tick();
    states.set(host.engine.tick, host.engine.save());
    await Promise.all(done);
  };
  await step(Array.from({ length: 20 }, (_, i) => ({ kind: 'join', name: `v${i}`, policy: 'rules', model: null, home: null, status: 'active' }) as WorldInput));
  for (let t = 0; t < 200; t++) {
    const inputs: WorldInput[] = [];
    if (t % 7 === 0) inputs.push({ kind: 'move', name: `v${t % 20}`, move: { to: landmarks[t % landmarks.length]! } });
    if (t % 11 === 0) inputs.push({ kind: 'act', name: `v${(t + 3) % 20}`, action: { type: 'talk', text: `line ${t}` } });
    await step(inputs);
  }
  // Ticks with nothing to do: nothing written.
  const rows = (await store.world.inputsAfter(0)).length;
  for (let t = 0; t < 100; t++) await step([]);
  await host.flushed();
  expect((await store.world.inputsAfter(0)).length).toBe(rows);
  const snap = await store.world.latestSnapshot();
  expect(snap!.tick).toBeGreaterThan(0);
  const lastLogged = (await store.world.inputsAfter(0)).at(-1)?.tick ?? snap!.tick;
  // "Crash": drop the host without stopping it, close the file, open it again.
  await store.close();
  const again = await SqlStore.open(sqliteBackend(file));
  const resumed = await open(again, 120);
  expect(lastLogged).toBeGreaterThan(snap!.tick); // so the replay has real work to do
  const expected = lastLogged;
  expect(resumed.engine.tick).toBe(expected);
  expect(resumed.engine.save()).toEqual(states.get(expected));
  await resumed.stop();
  await again.close();
});

it('a clean stop snapshots, and reopening gives the identical world', async () => {
  const file = join(dir, 'clean.db');
  const store = await SqlStore.open(sqliteBackend(file));
  const host = await open(store);
  const done = [host.submit({ kind: 'join', name: 'ann', policy: 'rules', model: null, home: 'cafe', status: 'active' })];
  host.tick();
  await Promise.all(done);
  const walk = host.submit({ kind: 'move', name: 'ann', move: { to: 'park' } });
  for (let i = 0; i < 5; i++) host.tick();
  await walk;
  const live = host.engine.save();
  await host.stop();
  await store.close();
  const again = await SqlStore.open(sqliteBackend(file));
  const resumed = await open(again);
  expect(resumed.engine.save()).toEqual(live);
  expect(resumed.engine.villager('ann')?.goal).not.toBeNull(); // still on its way: the path is part of the state
  await resumed.stop();
  await again.close();
});

it('a world saved on another map is not replayed onto this one: a new world starts, numbering ticks on', async () => {
  const file = join(dir, 'other-map.db');
  const store = await SqlStore.open(sqliteBackend(file));
  const host = await open(store, 1_000_000); // no snapshot on the way: the log holds everything
  const joined = host.submit({ kind: 'join', name: 'ann', policy: 'rules', model: null, home: 'cafe', status: 'active' });
  host.tick();
  await joined;
  await host.stop(); // the snapshot at stop
  const walk = await WorldHost.open({ loaded, engine: { tickMs: 250 }, store: store.world, snapshotEveryTicks: 1_000_000, log: () => undefined });
  const moved = walk.submit({ kind: 'move', name: 'ann', move: { dx: 0, dy: -1 } });
  walk.tick();
  await moved; // a logged row after the snapshot
  await walk.flushed();
  const lastTick = walk.engine.tick;

  const other: LoadedMap = { ...loaded, map: { ...loaded.map, name: 'other' } };
  const warnings: string[] = [];
  const fresh = await WorldHost.open({ loaded: other, engine: { tickMs: 250 }, store: store.world, snapshotEveryTicks: 1_000_000, log: (_l, m) => void warnings.push(m) });
  expect(warnings.join('\n')).toMatch(/saved world was on map "village", this one is "other": starting a new world at tick/);
  expect(fresh.engine.size).toBe(0);
  expect(fresh.engine.tick).toBe(lastTick);
  expect(await store.world.inputsAfter(0)).toEqual([]);
  // And it goes on logging without colliding with the old rows.
  const j = fresh.submit({ kind: 'join', name: 'bob', policy: 'rules', model: null, home: null, status: 'active' });
  fresh.tick();
  await j;
  expect((await store.world.inputsAfter(0)).map((r) => r.tick)).toEqual([lastTick + 1]);
  await fresh.stop();
  await store.close();
});
