import { describe, expect, it } from 'vitest';
import type { Villager, WorldMessage } from '@aiflock/protocol';
import { spreadShared, villagerAt } from '../src/village/draw.js';
import { applyWorldMessage, brainOf, positionAt, type WorldView } from '../src/village/world-state.js';

const villager = (name: string, x: number, y: number, extra: Partial<Villager> = {}): Villager => ({
  name,
  x,
  y,
  activity: 'idle',
  goal: null,
  said: null,
  policy: 'rules',
  model: null,
  status: 'active',
  ...extra,
});

const snapshot = (seq: number, villagers: Villager[]): WorldMessage => ({
  type: 'snapshot',
  snapshot: { seq, tick: seq, tickMs: 500, map: { name: 'town', width: 20, height: 10, tileSize: 32 }, landmarks: [], villagers },
});

const ok = (out: ReturnType<typeof applyWorldMessage>): WorldView => {
  if (out.kind !== 'ok') throw new Error(`expected ok, got a gap: ${JSON.stringify(out)}`);
  return out.view;
};

describe('the village stream folded into what the page draws', () => {
  it('starts from a snapshot, applies deltas in order and glides moves over one tick', () => {
    let view = ok(applyWorldMessage(null, snapshot(4, [villager('ann', 1, 1)]), 1000));
    view = ok(applyWorldMessage(view, { type: 'delta', delta: { seq: 5, tick: 5, changes: [{ type: 'moved', name: 'ann', x: 2, y: 1 }, { type: 'activity', name: 'ann', activity: 'walking to the café' }] } }, 2000));
    const ann = view.bodies.get('ann')!;
    expect(ann.villager).toMatchObject({ x: 2, y: 1, activity: 'walking to the café' });
    expect(positionAt(ann, 2000, view.tickMs)).toEqual({ x: 1, y: 1 });
    const mid = positionAt(ann, 2250, view.tickMs);
    expect(mid.x).toBeGreaterThan(1);
    expect(mid.x).toBeLessThan(2);
    expect(positionAt(ann, 2500, view.tickMs)).toEqual({ x: 2, y: 1 });
    expect(positionAt(ann, 9000, view.tickMs)).toEqual({ x: 2, y: 1 });
  });

  it('asks for a fresh snapshot on a sequence gap, and for any delta before a snapshot', () => {
    const view = ok(applyWorldMessage(null, snapshot(4, [villager('ann', 1, 1)]), 0));
    expect(applyWorldMessage(view, { type: 'delta', delta: { seq: 6, tick: 6, changes: [{ type: 'left', name: 'ann' }] } }, 0)).toEqual({ kind: 'gap', expected: 5, got: 6 });
    expect(applyWorldMessage(null, { type: 'delta', delta: { seq: 1, tick: 1, changes: [{ type: 'left', name: 'ann' }] } }, 0).kind).toBe('gap');
    // The refused delta changed nothing.
    expect(view.bodies.has('ann')).toBe(true);
  });

  it('joins, leaves, speaks, changes status and policy', () => {
    let view = ok(applyWorldMessage(null, snapshot(0, []), 0));
    view = ok(applyWorldMessage(view, { type: 'delta', delta: { seq: 1, tick: 1, changes: [{ type: 'joined', villager: villager('bo', 3, 3) }] } }, 10));
    view = ok(applyWorldMessage(view, { type: 'delta', delta: { seq: 2, tick: 2, changes: [{ type: 'said', name: 'bo', text: 'hello', to: null }, { type: 'status', name: 'bo', status: 'quarantined' }, { type: 'policy', name: 'bo', policy: 'llm', model: 'small' }] } }, 20));
    expect(view.bodies.get('bo')).toMatchObject({ saidAt: 20, villager: { said: { text: 'hello', to: null, tick: 2 }, status: 'quarantined', policy: 'llm', model: 'small' } });
    view = ok(applyWorldMessage(view, { type: 'delta', delta: { seq: 3, tick: 3, changes: [{ type: 'left', name: 'bo' }] } }, 30));
    expect(view.bodies.size).toBe(0);
  });

  it('a resync snapshot keeps gliding from where the villager was drawn', () => {
    let view = ok(applyWorldMessage(null, snapshot(1, [villager('ann', 0, 0)]), 0));
    view = ok(applyWorldMessage(view, { type: 'delta', delta: { seq: 2, tick: 2, changes: [{ type: 'moved', name: 'ann', x: 1, y: 0 }] } }, 0));
    view = ok(applyWorldMessage(view, snapshot(9, [villager('ann', 2, 0)]), 250));
    const ann = view.bodies.get('ann')!;
    expect(ann.from.x).toBeGreaterThan(0);
    expect(ann.from.x).toBeLessThan(1);
    expect(ann.to).toEqual({ x: 2, y: 0 });
  });

  it('says plainly which mind a villager runs', () => {
    expect(brainOf({ policy: 'llm', model: 'stories260K' })).toBe('LLM (stories260K)');
    expect(brainOf({ policy: 'llm', model: null })).toMatch(/no model reachable/);
    expect(brainOf({ policy: 'rules', model: null })).toMatch(/no LLM/);
  });
});

describe('drawing villagers who share a tile', () => {
  it('nudges them apart so none hides another, and a click picks the one under it', () => {
    const view = ok(applyWorldMessage(null, snapshot(1, [villager('ann', 5, 5), villager('bo', 5, 5), villager('cy', 9, 2)]), 0));
    const at = spreadShared(view, 1000);
    const ann = at.get('ann')!;
    const bo = at.get('bo')!;
    expect(Math.hypot(ann.x - bo.x, ann.y - bo.y)).toBeGreaterThan(0.4);
    expect(at.get('cy')).toEqual({ x: 9, y: 2 });
    const px = 20;
    expect(villagerAt(view, px, (ann.x + 0.5) * px, (ann.y + 0.5) * px, 1000)).toBe('ann');
    expect(villagerAt(view, px, (bo.x + 0.5) * px, (bo.y + 0.5) * px, 1000)).toBe('bo');
    expect(villagerAt(view, px, 0, 0, 1000)).toBeNull();
  });
});
