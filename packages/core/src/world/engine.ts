import type { ActionRequest, Landmark, MoveRequest, Perception, Tile, Villager, WorldChange, WorldDelta, WorldSnapshot } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { WorldInput } from './inputs.js';
import { inside, isWalkable, type WorldMap } from './map.js';
import { canStep, PathFinder } from './pathfinding.js';
import { nextRandom, WorldState, type VillagerState } from './state.js';

export interface WorldOptions {
  /** Only reported to clients (the daemon owns the clock). */
  tickMs: number;
  /** A* node expansions per tick, shared by every villager's search; a search that finds the budget spent waits a tick. */
  pathBudget: number;
  /** Talk is heard within this many tiles (Chebyshev distance). */
  hearingRadius: number;
  /** Other villagers within this many tiles are `nearby` in a perception. */
  sightRadius: number;
  /** Seed of the state's RNG for a new world. */
  seed: number;
}

export const DEFAULT_WORLD_OPTIONS: WorldOptions = { tickMs: 250, pathBudget: 4_000, hearingRadius: 5, sightRadius: 8, seed: 1 };

export type MoveOutcome = { goal: Tile | null; path: number };
export type Outcome = { id: number; ok: true; value: MoveOutcome | { ok: true } } | { id: number; ok: false; error: FlockError };

export interface TickResult {
  tick: number;
  /** The changes this tick made, or null when nothing changed (an idle tick). */
  delta: WorldDelta | null;
  /** The inputs taken from the queue this tick, in the order applied: the input log's row. */
  applied: WorldInput[];
  /** Answers for inputs settled this tick (a move to a target may settle ticks after it was queued). */
  outcomes: Outcome[];
}

const HEARD_KEPT = 20;
const RECENT_KEPT = 5;

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
  private queue: { id: number; input: WorldInput }[] = [];

  private constructor(
    readonly map: WorldMap,
    readonly options: WorldOptions,
    state: WorldState,
  ) {
    this.state = state;
    for (const v of state.villagers) this.byName.set(v.name, v);
    this.finder = new PathFinder(map);
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
      if (!isWalkable(map, v.x, v.y)) Object.assign(v, engine.freeTile(), { path: [] });
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
    this.plan(changes, outcomes);
    for (const v of s.villagers) {
      if (v.status !== 'active' || v.path.length === 0) continue;
      const next = v.path.shift()!;
      v.x = next.x;
      v.y = next.y;
      changes.push({ type: 'moved', name: v.name, x: v.x, y: v.y });
      if (v.path.length === 0 && v.goal) {
        v.goal = null;
        changes.push({ type: 'goal', name: v.name, goal: null });
        const at = this.landmarkAt(v.x, v.y);
        this.setActivity(v, at ? `at the ${at.label}` : 'standing', changes);
      }
    }
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
    const v = this.require(name);
    const r = this.options.sightRadius;
    return {
      tick: this.state.tick,
      self: publicView(v),
      landmarks: this.map.landmarks,
      at: this.landmarkAt(v.x, v.y)?.name ?? null,
      nearby: this.state.villagers
        .filter((o) => o !== v && o.status !== 'away' && Math.max(Math.abs(o.x - v.x), Math.abs(o.y - v.y)) <= r)
        .map((o) => ({ name: o.name, x: o.x, y: o.y, activity: o.activity })),
      heard: v.heard.filter((h) => h.tick > heardSince).map((h) => ({ ...h })),
    };
  }

  landmark(name: string): Landmark | undefined {
    return this.map.landmarks.find((l) => l.name === name);
  }

  // ---- applying inputs ---------------------------------------------------------------

  private require(name: string): VillagerState {
    const v = this.byName.get(name);
    if (!v) throw new FlockError('villager_not_found', `"${name}" is not in the village (deploy it with a village section in its manifest)`, { name });
    return v;
  }

  private active(name: string): VillagerState {
    const v = this.require(name);
    if (v.status !== 'active') throw new FlockError('villager_inactive', `"${name}" is ${v.status} and stands still`, { name, status: v.status });
    return v;
  }

  /** Throws what applying `input` now would throw, changing nothing. */
  private check(input: WorldInput): void {
    switch (input.kind) {
      case 'join':
        if (this.byName.has(input.name)) throw new FlockError('validation_failed', `"${input.name}" is already in the village`);
        return;
      case 'leave':
      case 'status':
      case 'declare':
        this.require(input.name);
        return;
      case 'move':
        this.resolveMove(this.active(input.name), input.move);
        return;
      case 'act':
        this.checkAction(this.active(input.name), input.action);
        return;
    }
  }

  private apply(id: number, input: WorldInput, changes: WorldChange[], outcomes: Outcome[]): MoveOutcome | { ok: true } | null {
    this.check(input);
    const s = this.state;
    switch (input.kind) {
      case 'join': {
        const home = input.home ? this.landmark(input.home) : undefined;
        const at = home ? home.entry : this.freeTile();
        const v: VillagerState = {
          name: input.name,
          x: at.x,
          y: at.y,
          activity: home ? `at the ${home.label}` : 'arrived in the village',
          goal: null,
          said: null,
          policy: input.policy,
          model: input.model,
          status: input.status,
          path: [],
          heard: [],
          recent: [],
        };
        s.villagers.push(v);
        this.byName.set(v.name, v);
        changes.push({ type: 'joined', villager: publicView(v) });
        return { ok: true };
      }
      case 'leave': {
        this.cancelSearch(input.name, outcomes, 'it left the village');
        s.villagers = s.villagers.filter((v) => v.name !== input.name);
        this.byName.delete(input.name);
        changes.push({ type: 'left', name: input.name });
        return { ok: true };
      }
      case 'status': {
        const v = this.require(input.name);
        if (v.status === input.status) return { ok: true };
        v.status = input.status;
        changes.push({ type: 'status', name: v.name, status: v.status });
        if (v.status !== 'active') {
          this.cancelSearch(v.name, outcomes, `it is ${v.status}`);
          this.stop(v, changes);
        }
        return { ok: true };
      }
      case 'declare': {
        const v = this.require(input.name);
        if (v.policy !== input.policy || v.model !== input.model) {
          v.policy = input.policy;
          v.model = input.model;
          changes.push({ type: 'policy', name: v.name, policy: v.policy, model: v.model });
        }
        return { ok: true };
      }
      case 'move': {
        const v = this.active(input.name);
        const target = this.resolveMove(v, input.move);
        this.cancelSearch(v.name, outcomes, 'a newer move replaced it');
        this.remember(v, 'dx' in input.move ? `stepped ${input.move.dx},${input.move.dy}` : `set off for ${target.label}`);
        if ('dx' in input.move) {
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
        s.pathQueue.push({ input: id, name: v.name, target: target.tile, label: target.label });
        return null; // settled when its path is planned
      }
      case 'act':
        this.act(this.active(input.name), input.action, changes);
        return { ok: true };
    }
  }

  private act(v: VillagerState, a: ActionRequest, changes: WorldChange[]): void {
    switch (a.type) {
      case 'talk': {
        const r = this.options.hearingRadius;
        v.said = { text: a.text, to: a.to ?? null, tick: this.state.tick };
        changes.push({ type: 'said', name: v.name, text: a.text, to: a.to ?? null });
        for (const o of this.state.villagers) {
          if (o === v || o.status === 'away' || Math.max(Math.abs(o.x - v.x), Math.abs(o.y - v.y)) > r) continue;
          o.heard.push({ from: v.name, text: a.text, tick: this.state.tick });
          if (o.heard.length > HEARD_KEPT) o.heard.shift();
        }
        this.remember(v, a.to ? `said to ${a.to}: ${a.text.slice(0, 60)}` : `said: ${a.text.slice(0, 60)}`);
        return;
      }
      case 'use_board':
        this.setActivity(v, 'reading the board', changes);
        this.remember(v, 'read the board');
        return;
      case 'do':
        this.setActivity(v, a.activity, changes);
        this.remember(v, a.activity.slice(0, 80));
        return;
      case 'rest':
        this.stop(v, changes);
        this.setActivity(v, 'resting', changes);
        this.remember(v, 'rested');
        return;
    }
  }

  private checkAction(v: VillagerState, a: ActionRequest): void {
    if (a.type === 'talk' && a.to !== undefined) {
      const o = this.byName.get(a.to);
      if (!o || o === v || o.status === 'away') throw new FlockError('action_invalid', `talk.to: "${a.to}" is not a villager here to talk to`, { field: 'to' });
      const d = Math.max(Math.abs(o.x - v.x), Math.abs(o.y - v.y));
      if (d > this.options.hearingRadius) throw new FlockError('action_invalid', `talk.to: "${a.to}" is ${d} tiles away; talk is heard within ${this.options.hearingRadius}`, { field: 'to', distance: d });
    }
    if (a.type === 'use_board' && !this.map.landmarks.some((l) => l.kind === 'board' && inside(l, v.x, v.y))) {
      const board = this.map.landmarks.find((l) => l.kind === 'board');
      throw new FlockError('action_invalid', `use_board: "${v.name}" is not at the board${board ? ` (walk there first: {"to":"${board.name}"})` : ''}`, { field: 'type' });
    }
  }

  /** Where a move leads, or why it cannot. */
  private resolveMove(v: VillagerState, m: MoveRequest): { tile: Tile; label: string } {
    if ('dx' in m) {
      const tile = { x: v.x + m.dx, y: v.y + m.dy };
      if (m.dx === 0 && m.dy === 0) throw new FlockError('move_invalid', 'dx, dy: a step of 0,0 goes nowhere', { field: 'dx' });
      if (!canStep(this.map, v.x, v.y, m.dx, m.dy)) {
        const why = tile.x < 0 || tile.y < 0 || tile.x >= this.map.width || tile.y >= this.map.height ? 'is outside the map' : isWalkable(this.map, tile.x, tile.y) ? 'cuts the corner of a wall' : 'is a wall';
        throw new FlockError('move_invalid', `dx, dy: the step from (${v.x},${v.y}) to (${tile.x},${tile.y}) ${why}`, { from: { x: v.x, y: v.y }, to: tile });
      }
      return { tile, label: `(${tile.x},${tile.y})` };
    }
    if ('to' in m) {
      const l = this.landmark(m.to);
      if (!l) throw new FlockError('move_invalid', `to: no landmark "${m.to}"; known: ${this.map.landmarks.map((x) => x.name).join(', ')}`, { field: 'to' });
      return { tile: l.entry, label: `the ${l.label}` };
    }
    if (m.x >= this.map.width || m.y >= this.map.height) throw new FlockError('move_invalid', `x, y: (${m.x},${m.y}) is outside the ${this.map.width}x${this.map.height} map`, { field: 'x' });
    if (!isWalkable(this.map, m.x, m.y)) throw new FlockError('move_invalid', `x, y: (${m.x},${m.y}) is a wall or water`, { field: 'x' });
    return { tile: { x: m.x, y: m.y }, label: `(${m.x},${m.y})` };
  }

  /** Runs queued path searches first come first served within this tick's node budget. */
  private plan(changes: WorldChange[], outcomes: Outcome[]): void {
    const s = this.state;
    const full = this.options.pathBudget;
    let left = full;
    while (s.pathQueue.length > 0 && left > 0) {
      const req = s.pathQueue[0]!;
      const v = this.byName.get(req.name)!;
      const r = this.finder.find({ x: v.x, y: v.y }, req.target, left);
      if (r.kind === 'budget' && left < full) break; // started late: it gets a fresh budget next tick
      s.pathQueue.shift();
      left -= r.expanded;
      if (r.kind === 'found') {
        v.path = r.path;
        this.setActivity(v, r.path.length > 0 ? `walking to ${req.label}` : `at ${req.label}`, changes);
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

  private cancelSearch(name: string, outcomes: Outcome[], why: string): void {
    const s = this.state;
    const req = s.pathQueue.find((r) => r.name === name);
    if (!req) return;
    s.pathQueue = s.pathQueue.filter((r) => r !== req);
    outcomes.push({ id: req.input, ok: false, error: new FlockError('move_invalid', `the walk to ${req.label} was dropped: ${why}`) });
  }

  private stop(v: VillagerState, changes: WorldChange[]): void {
    v.path = [];
    if (v.goal) {
      v.goal = null;
      changes.push({ type: 'goal', name: v.name, goal: null });
    }
  }

  private setActivity(v: VillagerState, activity: string, changes: WorldChange[]): void {
    const a = activity.slice(0, 200);
    if (v.activity === a) return;
    v.activity = a;
    changes.push({ type: 'activity', name: v.name, activity: a });
  }

  private remember(v: VillagerState, what: string): void {
    v.recent.push({ tick: this.state.tick, what });
    if (v.recent.length > RECENT_KEPT) v.recent.shift();
  }

  private landmarkAt(x: number, y: number): Landmark | undefined {
    return this.map.landmarks.find((l) => inside(l, x, y));
  }

  /** A walkable tile nobody stands on, drawn from the state's RNG (any walkable tile if all are taken). */
  private freeTile(): Tile {
    const taken = new Set(this.state.villagers.map((v) => v.y * this.map.width + v.x));
    const free: number[] = [];
    const all: number[] = [];
    for (let i = 0; i < this.map.walkable.length; i++) {
      if (this.map.walkable[i] !== 1) continue;
      all.push(i);
      if (!taken.has(i)) free.push(i);
    }
    const pool = free.length > 0 ? free : all;
    if (pool.length === 0) throw new FlockError('world_map_invalid', `village map ${this.map.name} has no walkable tile`);
    const r = nextRandom(this.state.rng);
    this.state.rng = r.state;
    const i = pool[Math.floor(r.value * pool.length)]!;
    return { x: i % this.map.width, y: Math.floor(i / this.map.width) };
  }
}

function publicView(v: VillagerState): Villager {
  return { name: v.name, x: v.x, y: v.y, activity: v.activity, goal: v.goal && { ...v.goal }, said: v.said && { ...v.said }, policy: v.policy, model: v.model, status: v.status };
}
