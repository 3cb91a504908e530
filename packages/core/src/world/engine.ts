import type { Landmark, Perception, Villager, WorldChange, WorldDelta, WorldSnapshot } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { act, checkAction } from './actions.js';
import type { WorldInput } from './inputs.js';
import { isWalkable, type WorldMap } from './map.js';
import { declare, join, leave, setStatus } from './membership.js';
import { planPaths, resolveMove, startMove, walk } from './movement.js';
import { DEFAULT_WORLD_OPTIONS, type WorldOptions } from './options.js';
import type { MoveOutcome, Outcome, TickResult } from './outcomes.js';
import { PathFinder } from './pathfinding.js';
import { perceptionOf } from './perception.js';
import { freeTile } from './placement.js';
import { WorldState, type VillagerState } from './state.js';
import { activeVillager, findLandmark, requireVillager, type Village } from './village.js';
import { publicView } from './villager.js';

// Options and outcomes live in their own modules so the rule modules can use them; they are
// still part of the engine's public face.
export { DEFAULT_WORLD_OPTIONS, type WorldOptions } from './options.js';
export type { MoveOutcome, Outcome, TickResult } from './outcomes.js';

/**
 * The authoritative village: one writer applying queued inputs in order on each `tick()`.
 * Pure: no timers and no I/O (the daemon calls `tick()` on its fixed interval whether or not
 * anyone watches, and persists what `tick()` returns). The same state and the same inputs at
 * the same ticks always produce the same state, the same deltas and the same outcomes.
 *
 * Rules decided here: villagers may share a tile (a café holds many people, and blocking
 * would let a crowd deadlock a doorway); a step is one tile in the 8-neighbourhood and may
 * not cut a wall's corner; a villager walks at most one tile per tick; quarantined, frozen
 * and away villagers stand still and refuse moves and actions.
 */
export class WorldEngine {
  private state: WorldState;
  private readonly byName = new Map<string, VillagerState>();
  private readonly finder: PathFinder;
  /** The state as the rule modules see it (the same objects, not a copy). */
  private readonly village: Village;
  private queue: { id: number; input: WorldInput }[] = [];

  private constructor(
    readonly map: WorldMap,
    readonly options: WorldOptions,
    state: WorldState,
  ) {
    this.state = state;
    for (const v of state.villagers) this.byName.set(v.name, v);
    this.finder = new PathFinder(map);
    this.village = { map, options, state, byName: this.byName };
  }

  static create(map: WorldMap, options: Partial<WorldOptions> = {}): WorldEngine {
    const o = { ...DEFAULT_WORLD_OPTIONS, ...options };
    return new WorldEngine(map, o, { version: 1, map: map.name, tick: 0, seq: 0, rng: o.seed | 0, nextInput: 1, villagers: [], pathQueue: [] });
  }

  /** Resumes from a saved state; villagers standing on tiles the (edited) map walls off are moved to a free tile. */
  static restore(map: WorldMap, saved: unknown, options: Partial<WorldOptions> = {}): WorldEngine {
    const parsed = WorldState.safeParse(saved);
    if (!parsed.success) throw new FlockError('validation_failed', `world snapshot: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const engine = new WorldEngine(map, { ...DEFAULT_WORLD_OPTIONS, ...options }, structuredClone(parsed.data));
    for (const v of engine.state.villagers) {
      if (!isWalkable(map, v.x, v.y)) Object.assign(v, freeTile(map, engine.state), { path: [] });
      v.path = v.path.filter((t) => isWalkable(map, t.x, t.y));
    }
    return engine;
  }

  get tick(): number {
    return this.state.tick;
  }

  get seq(): number {
    return this.state.seq;
  }

  get size(): number {
    return this.byName.size;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** A deep copy of the whole state, for persistence (`restore` reads it back). */
  save(): WorldState {
    return structuredClone(this.state);
  }

  /**
   * Checks an input against the world as it is now and queues it for the next tick. A bad
   * input throws here, with the reason, and is not queued; one that was fine when queued can
   * still be refused at the tick (its villager left meanwhile), reported in `outcomes`.
   */
  submit(input: WorldInput): number {
    this.check(input);
    return this.enqueue(input);
  }

  /** Queues without checking: for replaying the input log, where refusals replay as refusals. */
  enqueue(input: WorldInput): number {
    const id = this.state.nextInput++;
    this.queue.push({ id, input });
    return id;
  }

  /** Path searches waiting for budget. */
  pendingPaths(): number {
    return this.state.pathQueue.length;
  }

  /** Inputs waiting for the next tick. */
  pending(): number {
    return this.queue.length;
  }

  /** One tick: apply the queued inputs in order, plan paths within the budget, walk one tile. */
  advance(): TickResult {
    const s = this.state;
    s.tick++;
    const changes: WorldChange[] = [];
    const outcomes: Outcome[] = [];
    const taken = this.queue;
    this.queue = [];
    for (const { id, input } of taken) {
      try {
        const value = this.apply(id, input, changes, outcomes);
        if (value) outcomes.push({ id, ok: true, value });
      } catch (err) {
        outcomes.push({ id, ok: false, error: err instanceof FlockError ? err : new FlockError('internal', String(err)) });
      }
    }
    planPaths(this.village, this.finder, changes, outcomes);
    walk(this.village, changes);
    let delta: WorldDelta | null = null;
    if (changes.length > 0) delta = { seq: ++s.seq, tick: s.tick, changes };
    return { tick: s.tick, delta, applied: taken.map((t) => t.input), outcomes };
  }

  /** The wire snapshot: what a watcher needs to draw the village now. */
  snapshot(): WorldSnapshot {
    return {
      seq: this.state.seq,
      tick: this.state.tick,
      tickMs: this.options.tickMs,
      map: { name: this.map.name, width: this.map.width, height: this.map.height, tileSize: this.map.tileSize },
      landmarks: this.map.landmarks,
      villagers: this.state.villagers.map(publicView),
    };
  }

  villager(name: string): Villager | undefined {
    const v = this.byName.get(name);
    return v && publicView(v);
  }

  /** The last few things it did, newest last (for `GET /v1/agents/{name}`). */
  recent(name: string): { tick: number; what: string }[] {
    return structuredClone(this.byName.get(name)?.recent ?? []);
  }

  /** What a villager perceives now; `heardSince` is the tick of its previous perception. */
  perceive(name: string, heardSince: number): Omit<Perception, 'economy' | 'replies'> {
    return perceptionOf(this.village, requireVillager(this.village, name), heardSince);
  }

  landmark(name: string): Landmark | undefined {
    return findLandmark(this.map, name);
  }

  // ---- applying inputs ---------------------------------------------------------------

  /** Throws what applying `input` now would throw, changing nothing. */
  private check(input: WorldInput): void {
    const w = this.village;
    switch (input.kind) {
      case 'join':
        if (this.byName.has(input.name)) throw new FlockError('validation_failed', `"${input.name}" is already in the village`);
        return;
      case 'leave':
      case 'status':
      case 'declare':
        requireVillager(w, input.name);
        return;
      case 'move':
        resolveMove(w, activeVillager(w, input.name), input.move);
        return;
      case 'act':
        checkAction(w, activeVillager(w, input.name), input.action);
        return;
    }
  }

  /** Every change to the state goes through here, in queue order, within `advance`. */
  private apply(id: number, input: WorldInput, changes: WorldChange[], outcomes: Outcome[]): MoveOutcome | { ok: true } | null {
    this.check(input);
    const w = this.village;
    switch (input.kind) {
      case 'join':
        join(w, input, changes);
        return { ok: true };
      case 'leave':
        leave(w, input.name, changes, outcomes);
        return { ok: true };
      case 'status':
        setStatus(w, input, changes, outcomes);
        return { ok: true };
      case 'declare':
        declare(w, input, changes);
        return { ok: true };
      case 'move':
        return startMove(w, id, activeVillager(w, input.name), input.move, changes, outcomes);
      case 'act':
        act(w, activeVillager(w, input.name), input.action, changes);
        return { ok: true };
    }
  }
}
