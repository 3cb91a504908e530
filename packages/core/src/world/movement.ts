import type { MoveRequest, Tile, WorldChange } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { isWalkable } from './map.js';
import type { MoveOutcome, Outcome } from './outcomes.js';
import { canStep, type PathFinder } from './pathfinding.js';
import type { VillagerState } from './state.js';
import { findLandmark, landmarkAt, type Village } from './village.js';
import { remember, setActivity } from './villager.js';

/** Where a move leads, or why it cannot. */
export function resolveMove(w: Village, v: VillagerState, m: MoveRequest): { tile: Tile; label: string } {
  const { map } = w;
  if ('dx' in m) {
    const tile = { x: v.x + m.dx, y: v.y + m.dy };
    if (m.dx === 0 && m.dy === 0) throw new FlockError('move_invalid', 'dx, dy: a step of 0,0 goes nowhere', { field: 'dx' });
    if (!canStep(map, v.x, v.y, m.dx, m.dy)) {
      const why = tile.x < 0 || tile.y < 0 || tile.x >= map.width || tile.y >= map.height ? 'is outside the map' : isWalkable(map, tile.x, tile.y) ? 'cuts the corner of a wall' : 'is a wall';
      throw new FlockError('move_invalid', `dx, dy: the step from (${v.x},${v.y}) to (${tile.x},${tile.y}) ${why}`, { from: { x: v.x, y: v.y }, to: tile });
    }
    return { tile, label: `(${tile.x},${tile.y})` };
  }
  if ('to' in m) {
    const l = findLandmark(map, m.to);
    if (!l) throw new FlockError('move_invalid', `to: no landmark "${m.to}"; known: ${map.landmarks.map((x) => x.name).join(', ')}`, { field: 'to' });
    return { tile: l.entry, label: `the ${l.label}` };
  }
  if (m.x >= map.width || m.y >= map.height) throw new FlockError('move_invalid', `x, y: (${m.x},${m.y}) is outside the ${map.width}x${map.height} map`, { field: 'x' });
  if (!isWalkable(map, m.x, m.y)) throw new FlockError('move_invalid', `x, y: (${m.x},${m.y}) is a wall or water`, { field: 'x' });
  return { tile: { x: m.x, y: m.y }, label: `(${m.x},${m.y})` };
}

/**
 * Applies a move input: a step is walked in this tick's movement phase; a walk to a target
 * queues a path search and is settled (null here) when its path is planned.
 */
export function startMove(w: Village, id: number, v: VillagerState, move: MoveRequest, changes: WorldChange[], outcomes: Outcome[]): MoveOutcome | null {
  const target = resolveMove(w, v, move);
  cancelSearch(w, v.name, outcomes, 'a newer move replaced it');
  remember(v, w.state.tick, 'dx' in move ? `stepped ${move.dx},${move.dy}` : `set off for ${target.label}`);
  if ('dx' in move) {
    // One step, walked in this tick's movement phase.
    if (v.goal) {
      v.goal = null;
      changes.push({ type: 'goal', name: v.name, goal: null });
    }
    v.path = [target.tile];
    return { goal: target.tile, path: 1 };
  }
  v.path = [];
  v.goal = target.tile;
  changes.push({ type: 'goal', name: v.name, goal: v.goal });
  w.state.pathQueue.push({ input: id, name: v.name, target: target.tile, label: target.label });
  return null; // settled when its path is planned
}

/** Runs queued path searches first come first served within this tick's node budget. */
export function planPaths(w: Village, finder: PathFinder, changes: WorldChange[], outcomes: Outcome[]): void {
  const s = w.state;
  const full = w.options.pathBudget;
  let left = full;
  while (s.pathQueue.length > 0 && left > 0) {
    const req = s.pathQueue[0]!;
    const v = w.byName.get(req.name)!;
    const r = finder.find({ x: v.x, y: v.y }, req.target, left);
    if (r.kind === 'budget' && left < full) break; // started late: it gets a fresh budget next tick
    s.pathQueue.shift();
    left -= r.expanded;
    if (r.kind === 'found') {
      v.path = r.path;
      setActivity(v, r.path.length > 0 ? `walking to ${req.label}` : `at ${req.label}`, changes);
      if (r.path.length === 0) {
        v.goal = null;
        changes.push({ type: 'goal', name: v.name, goal: null });
      }
      outcomes.push({ id: req.input, ok: true, value: { goal: r.path.length > 0 ? req.target : null, path: r.path.length } });
      continue;
    }
    v.goal = null;
    changes.push({ type: 'goal', name: v.name, goal: null });
    const why = r.kind === 'budget' ? `is too far to plan within ${full} search steps` : 'cannot be reached from where it stands';
    outcomes.push({ id: req.input, ok: false, error: new FlockError('path_unreachable', `${req.label} ${why}`, { target: req.target }) });
  }
}

/** The movement phase: every active villager with a path walks one tile of it. */
export function walk(w: Village, changes: WorldChange[]): void {
  for (const v of w.state.villagers) {
    if (v.status !== 'active' || v.path.length === 0) continue;
    const next = v.path.shift()!;
    v.x = next.x;
    v.y = next.y;
    changes.push({ type: 'moved', name: v.name, x: v.x, y: v.y });
    if (v.path.length === 0 && v.goal) {
      v.goal = null;
      changes.push({ type: 'goal', name: v.name, goal: null });
      const at = landmarkAt(w.map, v.x, v.y);
      setActivity(v, at ? `at the ${at.label}` : 'standing', changes);
    }
  }
}

/** Drops the villager's queued path search, answering its move input with why. */
export function cancelSearch(w: Village, name: string, outcomes: Outcome[], why: string): void {
  const s = w.state;
  const req = s.pathQueue.find((r) => r.name === name);
  if (!req) return;
  s.pathQueue = s.pathQueue.filter((r) => r !== req);
  outcomes.push({ id: req.input, ok: false, error: new FlockError('move_invalid', `the walk to ${req.label} was dropped: ${why}`) });
}
