import { describe, expect, it } from 'vitest';
import { FlockError, PathFinder, WorldEngine, type WorldInput, type WorldMap } from '../../src/index.js';
import { asciiMap } from './ascii-map.js';

const ROWS = [
  '....................',
  '.########.#########.',
  '....................',
  '..###...........~...',
  '..###...........~...',
  '....................',
  '######.#############',
  '....................',
];
const MAP: WorldMap = asciiMap(
  ROWS.map((r) => r.replace(/~/g, '#')),
  [
    { name: 'home', kind: 'home', x: 0, y: 7, w: 4, h: 1 },
    { name: 'board', kind: 'board', x: 10, y: 2, w: 3, h: 2, entry: { x: 11, y: 2 } },
    { name: 'cafe', kind: 'cafe', x: 15, y: 0, w: 5, h: 1 },
  ],
);

const join = (name: string, home: string | null = null): WorldInput => ({ kind: 'join', name, policy: 'rules', model: null, home, status: 'active' });

function run(engine: WorldEngine, ticks: number) {
  const out = [];
  for (let i = 0; i < ticks; i++) out.push(engine.advance());
  return out;
}

describe('world engine', () => {
  it('puts a villager at its home entry, or on a free tile from the seeded RNG', () => {
    const w = WorldEngine.create(MAP, { seed: 7 });
    w.submit(join('ann', 'home'));
    w.submit(join('bob'));
    w.submit(join('cy', 'nowhere'));
    const t = w.advance();
    expect(t.delta?.changes.map((c) => c.type)).toEqual(['joined', 'joined', 'joined']);
    expect(w.villager('ann')).toMatchObject({ x: 1, y: 7, activity: 'at the HOME', status: 'active' }); // the tile nearest the rectangle's centre
    const again = WorldEngine.create(MAP, { seed: 7 });
    for (const n of ['ann', 'bob', 'cy']) again.submit(join(n, n === 'ann' ? 'home' : null));
    again.advance();
    expect(again.villager('bob')).toEqual(w.villager('bob'));
    const other = WorldEngine.create(MAP, { seed: 8 });
    other.submit(join('bob'));
    other.advance();
    expect(other.villager('bob')).not.toEqual(w.villager('bob')); // the seed decides
  });

  describe('move validation', () => {
    const at = (x: number, y: number) => {
      const w = WorldEngine.create(MAP);
      w.submit(join('ann'));
      w.advance();
      // Place her by restoring an edited state: tests the rule, not the walk.
      const s = w.save();
      Object.assign(s.villagers[0]!, { x, y });
      return WorldEngine.restore(MAP, s);
    };
    const cases: [string, { x: number; y: number }, Extract<WorldInput, { kind: 'move' }>['move'], string | null, string?][] = [
      ['one step east', { x: 0, y: 0 }, { dx: 1, dy: 0 }, null],
      ['one diagonal step in the open', { x: 5, y: 2 }, { dx: 1, dy: 1 }, null],
      ['a step off the map', { x: 0, y: 0 }, { dx: -1, dy: 0 }, 'move_invalid', 'outside the map'],
      ['a step into a wall', { x: 1, y: 0 }, { dx: 0, dy: 1 }, 'move_invalid', 'is a wall'],
      ['a diagonal cutting a wall corner', { x: 0, y: 0 }, { dx: 1, dy: 1 }, 'move_invalid', 'a wall'],
      ['a diagonal past a wall corner', { x: 8, y: 2 }, { dx: 1, dy: -1 }, 'move_invalid', 'cuts the corner'],
      ['a null step', { x: 0, y: 0 }, { dx: 0, dy: 0 }, 'move_invalid', 'goes nowhere'],
      ['a target tile', { x: 0, y: 0 }, { x: 19, y: 7 }, null],
      ['a target off the map', { x: 0, y: 0 }, { x: 20, y: 0 }, 'move_invalid', 'outside the 20x8 map'],
      ['a target in a wall', { x: 0, y: 0 }, { x: 3, y: 3 }, 'move_invalid', 'wall'],
      ['a landmark', { x: 0, y: 0 }, { to: 'cafe' }, null],
      ['an unknown landmark', { x: 0, y: 0 }, { to: 'moon' }, 'move_invalid', 'no landmark "moon"; known: home, board, cafe'],
    ];
    it.each(cases)('%s', (_what, from, move, code, message) => {
      const w = at(from.x, from.y);
      const before = JSON.stringify(w.save());
      if (code === null) {
        expect(() => w.submit({ kind: 'move', name: 'ann', move })).not.toThrow();
        return;
      }
      let err: unknown;
      try {
        w.submit({ kind: 'move', name: 'ann', move });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FlockError);
      expect((err as FlockError).code).toBe(code);
      expect((err as FlockError).message).toContain(message);
      expect(JSON.stringify(w.save())).toBe(before); // refused: nothing changed, nothing queued
      expect(w.pending()).toBe(0);
    });

    it('refuses moves for a villager not in the village, or one that stands still', () => {
      const w = at(0, 0);
      expect(() => w.submit({ kind: 'move', name: 'zed', move: { dx: 1, dy: 0 } })).toThrow(expect.objectContaining({ code: 'villager_not_found' }));
      w.submit({ kind: 'status', name: 'ann', status: 'quarantined' });
      w.advance();
      expect(() => w.submit({ kind: 'move', name: 'ann', move: { dx: 1, dy: 0 } })).toThrow(expect.objectContaining({ code: 'villager_inactive' }));
    });
  });

  it('walks a planned path one tile per tick and reports the goal reached', () => {
    const w = WorldEngine.create(MAP);
    w.submit(join('ann', 'home'));
    w.advance();
    const id = w.submit({ kind: 'move', name: 'ann', move: { to: 'cafe' } });
    const first = w.advance();
    const outcome = first.outcomes.find((o) => o.id === id);
    expect(outcome?.ok).toBe(true);
    const path = outcome?.ok ? (outcome.value as { path: number }).path : 0;
    expect(path).toBeGreaterThan(12);
    const positions = [w.villager('ann')!];
    for (let i = 1; i < path; i++) {
      w.advance();
      positions.push(w.villager('ann')!);
    }
    for (let i = 1; i < positions.length; i++) {
      const d = Math.max(Math.abs(positions[i]!.x - positions[i - 1]!.x), Math.abs(positions[i]!.y - positions[i - 1]!.y));
      expect(d).toBe(1); // never faster than one tile per tick
    }
    expect(w.villager('ann')).toMatchObject({ x: 17, y: 0, goal: null, activity: 'at the CAFE' });
  });

  it('shares the path budget: a search that finds it spent waits for the next tick', () => {
    const need = new PathFinder(MAP).find({ x: 1, y: 7 }, { x: 17, y: 0 }, 100_000).expanded;
    const w = WorldEngine.create(MAP, { pathBudget: Math.ceil(need * 1.5) });
    w.submit(join('ann', 'home'));
    w.submit(join('bob', 'home'));
    w.advance();
    const a = w.submit({ kind: 'move', name: 'ann', move: { to: 'cafe' } });
    const b = w.submit({ kind: 'move', name: 'bob', move: { to: 'cafe' } });
    const t1 = w.advance();
    expect(t1.outcomes.map((o) => o.id)).toEqual([a]);
    expect(w.save().pathQueue.map((r) => r.name)).toEqual(['bob']);
    const t2 = w.advance();
    expect(t2.outcomes.map((o) => [o.id, o.ok])).toEqual([[b, true]]);
    // One search longer than the whole budget fails plainly instead of waiting forever.
    const tight = WorldEngine.create(MAP, { pathBudget: 5 });
    tight.submit(join('ann', 'home'));
    tight.advance();
    const c = tight.submit({ kind: 'move', name: 'ann', move: { to: 'cafe' } });
    const o = tight.advance().outcomes.find((x) => x.id === c);
    expect(o?.ok === false && o.error.code).toBe('path_unreachable');
    expect(tight.villager('ann')?.goal).toBeNull();
  });

  it('talk is heard within the hearing radius only, and `to` must be near', () => {
    const w = WorldEngine.create(MAP, { hearingRadius: 3 });
    for (const n of ['ann', 'cy']) w.submit(join(n, 'home'));
    w.submit({ ...join('bob', 'home'), displayName: 'Bob' } as WorldInput);
    w.advance();
    const s = w.save();
    Object.assign(s.villagers.find((v) => v.name === 'bob')!, { x: 3, y: 7 });
    Object.assign(s.villagers.find((v) => v.name === 'cy')!, { x: 10, y: 7 });
    const r = WorldEngine.restore(MAP, s, { hearingRadius: 3 });
    expect(() => r.submit({ kind: 'act', name: 'ann', action: { type: 'talk', text: 'hi', to: 'cy' } })).toThrow(/9 tiles away; talk is heard within 3/);
    r.submit({ kind: 'act', name: 'ann', action: { type: 'talk', text: 'hello bob' } });
    const t = r.advance();
    expect(t.delta?.changes).toEqual([{ type: 'said', name: 'ann', text: 'hello bob', to: null }]);
    expect(r.perceive('bob', 0).heard).toEqual([{ from: 'ann', text: 'hello bob', tick: t.tick }]);
    expect(r.perceive('cy', 0).heard).toEqual([]);
    expect(r.perceive('bob', t.tick).heard).toEqual([]); // only what is new since the last perception
    // Neighbours come with what the village calls them.
    expect(r.perceive('ann', 0).nearby.map((n) => [n.name, n.displayName])).toEqual([['bob', 'Bob']]);
  });

  it('use_board needs the villager at the board', () => {
    const w = WorldEngine.create(MAP);
    w.submit(join('ann', 'home'));
    w.advance();
    expect(() => w.submit({ kind: 'act', name: 'ann', action: { type: 'use_board' } })).toThrow(/not at the board \(walk there first: \{"to":"board"\}\)/);
    w.submit({ kind: 'move', name: 'ann', move: { to: 'board' } });
    w.advance();
    for (let i = 0; i < 40 && w.villager('ann')!.goal !== null; i++) w.advance();
    w.advance();
    expect(w.perceive('ann', 0).at).toBe('board');
    w.submit({ kind: 'act', name: 'ann', action: { type: 'use_board' } });
    w.advance();
    expect(w.villager('ann')?.activity).toBe('reading the board');
    expect(w.recent('ann').map((r) => r.what)).toEqual(['set off for the BOARD', 'read the board']);
  });

  it('a quarantined villager stops where it stands and its walk is dropped', () => {
    const w = WorldEngine.create(MAP);
    w.submit(join('ann', 'home'));
    w.advance();
    w.submit({ kind: 'move', name: 'ann', move: { to: 'cafe' } });
    run(w, 3);
    const before = w.villager('ann')!;
    w.submit({ kind: 'status', name: 'ann', status: 'quarantined' });
    const t = w.advance();
    expect(t.delta?.changes).toEqual([
      { type: 'status', name: 'ann', status: 'quarantined' },
      { type: 'goal', name: 'ann', goal: null },
    ]);
    run(w, 5);
    expect(w.villager('ann')).toMatchObject({ x: before.x, y: before.y, status: 'quarantined' });
  });

  it('deltas have gap-free seq and idle ticks make none', () => {
    const w = WorldEngine.create(MAP);
    w.submit(join('ann', 'home'));
    const ticks = run(w, 1);
    w.submit({ kind: 'move', name: 'ann', move: { to: 'board' } });
    ticks.push(...run(w, 60));
    const seqs = ticks.flatMap((t) => (t.delta ? [t.delta.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(ticks.at(-1)!.delta).toBeNull();
    expect(w.snapshot().seq).toBe(seqs.at(-1));
  });
});

/** A scripted day: villagers join, wander to landmarks and tiles, talk, get quarantined and leave. */
function script(seed: number, ticks: number): Map<number, WorldInput[]> {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const names = Array.from({ length: 12 }, (_, i) => `v${i}`);
  const out = new Map<number, WorldInput[]>();
  const add = (t: number, i: WorldInput) => out.set(t, [...(out.get(t) ?? []), i]);
  names.forEach((n, i) => add(1 + i, join(n, i % 3 === 0 ? 'home' : null)));
  for (let t = 15; t < ticks; t++) {
    const n = names[Math.floor(rand() * names.length)]!;
    const r = rand();
    if (r < 0.3) add(t, { kind: 'move', name: n, move: { to: ['home', 'board', 'cafe'][Math.floor(rand() * 3)]! } });
    else if (r < 0.5) add(t, { kind: 'move', name: n, move: { x: Math.floor(rand() * 20), y: Math.floor(rand() * 8) } });
    else if (r < 0.7) add(t, { kind: 'move', name: n, move: { dx: Math.floor(rand() * 3) - 1, dy: Math.floor(rand() * 3) - 1 } });
    else if (r < 0.8) add(t, { kind: 'act', name: n, action: { type: 'talk', text: `hello at ${t}` } });
    else if (r < 0.85) add(t, { kind: 'status', name: n, status: rand() < 0.5 ? 'quarantined' : 'active' });
    else if (r < 0.87) add(t, { kind: 'leave', name: n });
  }
  return out;
}

/** Feeds the script the way the daemon does: checked inputs are queued, refused ones dropped. */
function play(engine: WorldEngine, inputs: Map<number, WorldInput[]>, until: number, log?: Map<number, WorldInput[]>) {
  const deltas = [];
  while (engine.tick < until) {
    for (const i of inputs.get(engine.tick + 1) ?? []) {
      try {
        engine.submit(i);
      } catch {
        // refused at submit: never queued, never logged
      }
    }
    const t = engine.advance();
    if (log && t.applied.length > 0) log.set(t.tick, t.applied);
    if (t.delta) deltas.push(t.delta);
  }
  return deltas;
}

describe('determinism and persistence', () => {
  it('the same seed and inputs give the same world and the same deltas', () => {
    const inputs = script(42, 300);
    const a = WorldEngine.create(MAP, { seed: 3 });
    const b = WorldEngine.create(MAP, { seed: 3 });
    const da = play(a, inputs, 300);
    const db = play(b, inputs, 300);
    expect(da.length).toBeGreaterThan(100);
    expect(db).toEqual(da);
    expect(b.save()).toEqual(a.save());
    expect(a.size).toBeGreaterThan(0);
  });

  it('a snapshot plus the input log since replays to the same world', () => {
    const inputs = script(9, 400);
    const live = WorldEngine.create(MAP, { seed: 5 });
    play(live, inputs, 150);
    const snap = JSON.parse(JSON.stringify(live.save())) as unknown; // through JSON, as the store keeps it
    const log = new Map<number, WorldInput[]>();
    play(live, inputs, 400, log);
    expect(log.size).toBeGreaterThan(10);

    const resumed = WorldEngine.restore(MAP, snap, { seed: 5 });
    while (resumed.tick < 400) {
      for (const i of log.get(resumed.tick + 1) ?? []) resumed.enqueue(i);
      resumed.advance();
    }
    expect(resumed.save()).toEqual(live.save());
    expect(resumed.snapshot()).toEqual(live.snapshot());
  });

  it('refuses a snapshot that is not one', () => {
    expect(() => WorldEngine.restore(MAP, { version: 2 })).toThrow(/world snapshot: /);
  });
});
