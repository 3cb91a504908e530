import { performance } from 'node:perf_hooks';
import { FlockError, WorldEngine, LoggedInputs, type MoveOutcome, type Outcome, type WorldInput, type WorldOptions, type WorldStore } from '@aiflock/core';
import type { WorldDelta } from '@aiflock/protocol';
import type { LoadedMap } from './load-map.js';

export interface WorldMetrics {
  tickSeconds: { observe(v: number): void };
  inputs: { inc(labels: { kind: string; outcome: string }): void };
}

export interface WorldHostOptions {
  loaded: LoadedMap;
  engine: Partial<WorldOptions> & { tickMs: number };
  store: WorldStore | null;
  /** Take a snapshot after this many ticks that changed something (and on stop). */
  snapshotEveryTicks: number;
  metrics?: WorldMetrics;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

type Waiter = { resolve: (v: MoveOutcome | { ok: true }) => void; reject: (e: unknown) => void; kind: string };

/**
 * Runs the engine on a fixed tick in the daemon, all day, whether or not anyone watches (no
 * pause-when-idle: agents live here). Every writer (HTTP, bus, the villager sync) calls
 * `submit`, which checks the input now, queues it and resolves once the tick that applied it
 * has been written to the store, so an acknowledged input survives a crash. Idle ticks write
 * nothing.
 */
export class WorldHost {
  engine: WorldEngine;
  private timer: NodeJS.Timeout | null = null;
  private readonly waiters = new Map<number, Waiter>();
  private readonly listeners = new Set<(d: WorldDelta) => void>();
  private writes: Promise<void> = Promise.resolve();
  private changedSinceSnapshot = 0;
  private stopped = false;

  private constructor(
    private readonly opts: WorldHostOptions,
    engine: WorldEngine,
  ) {
    this.engine = engine;
  }

  /** Loads the last snapshot and replays the inputs logged since, or starts a new world. */
  static async open(opts: WorldHostOptions): Promise<WorldHost> {
    const { map } = opts.loaded;
    const saved = await opts.store?.latestSnapshot();
    const rows = (await opts.store?.inputsAfter(saved?.tick ?? 0)) ?? [];
    const savedMap = (saved?.state as { map?: unknown } | undefined)?.map;
    if (saved && savedMap !== map.name) {
      // Another map: the old villagers' places mean nothing here. Start afresh, numbering ticks
      // on from the old world so its log rows are covered (and dropped) by the first snapshot.
      const last = Math.max(saved.tick, rows.at(-1)?.tick ?? 0);
      opts.log('warn', `the saved world was on map "${String(savedMap)}", this one is "${map.name}": starting a new world at tick ${last}`);
      const host = new WorldHost(opts, WorldEngine.restore(map, { ...WorldEngine.create(map, opts.engine).save(), tick: last }, opts.engine));
      await host.snapshot();
      return host;
    }
    const engine = saved ? WorldEngine.restore(map, saved.state, opts.engine) : WorldEngine.create(map, opts.engine);
    for (const row of rows) {
      const parsed = LoggedInputs.safeParse(row);
      if (!parsed.success) throw new FlockError('internal', `world input log row at tick ${row.tick} is unreadable: ${parsed.error.message}`);
      while (engine.tick < parsed.data.tick - 1) engine.advance();
      for (const input of parsed.data.inputs) engine.enqueue(input);
      engine.advance();
    }
    if (saved || rows.length > 0) opts.log('info', `world resumed at tick ${engine.tick} (snapshot at ${saved?.tick ?? 'none'}, ${rows.length} input rows replayed)`, { villagers: engine.size });
    return new WorldHost(opts, engine);
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.opts.engine.tickMs);
  }

  /** Stops ticking, refuses what is still queued, and keeps a final snapshot. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
    await this.writes;
    if (this.changedSinceSnapshot > 0) await this.snapshot();
    for (const w of this.waiters.values()) w.reject(new FlockError('not_ready', 'the world engine stopped before this input was applied'));
    this.waiters.clear();
  }

  /** Checks and queues an input; resolves with its outcome once applied and stored. */
  submit(input: WorldInput): Promise<MoveOutcome | { ok: true }> {
    if (this.stopped) return Promise.reject(new FlockError('not_ready', 'the world engine is stopped'));
    let id: number;
    try {
      id = this.engine.submit(input);
    } catch (err) {
      this.opts.metrics?.inputs.inc({ kind: input.kind, outcome: 'refused' });
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => this.waiters.set(id, { resolve, reject, kind: input.kind }));
  }

  /** Deltas as they are made; returns the unsubscribe. */
  subscribe(fn: (d: WorldDelta) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** One tick now (the timer calls this; tests and benchmarks may too). */
  tick(): void {
    const t0 = performance.now();
    const r = this.engine.advance();
    this.opts.metrics?.tickSeconds.observe((performance.now() - t0) / 1000);
    if (r.delta) {
      this.changedSinceSnapshot++;
      for (const fn of this.listeners) {
        try {
          fn(r.delta);
        } catch (err) {
          this.opts.log('error', `a world delta listener failed: ${String(err)}`);
        }
      }
    }
    if (r.applied.length === 0 && r.outcomes.length === 0 && !this.snapshotDue()) return;
    const applied = r.applied;
    const outcomes = r.outcomes;
    const snapshotDue = this.snapshotDue();
    const tick = r.tick;
    const state = snapshotDue ? this.engine.save() : null;
    if (snapshotDue) {
      this.changedSinceSnapshot = 0;
    }
    // Writes are chained so rows land in tick order; answers wait for their row.
    this.writes = this.writes
      .then(async () => {
        if (applied.length > 0) await this.opts.store?.appendInputs(tick, applied);
        if (state) await this.opts.store?.saveSnapshot(tick, state);
      })
      .then(
        () => this.settle(outcomes),
        (err: unknown) => {
          this.opts.log('error', `persisting world tick ${tick} failed: ${String(err)}`);
          this.settle(outcomes);
        },
      );
  }

  /** Resolves when every write queued so far has landed. */
  flushed(): Promise<void> {
    return this.writes;
  }

  private snapshotDue(): boolean {
    return this.changedSinceSnapshot >= this.opts.snapshotEveryTicks;
  }

  private async snapshot(): Promise<void> {
    const state = this.engine.save();
    this.changedSinceSnapshot = 0;
    await this.opts.store?.saveSnapshot(state.tick, state);
  }

  private settle(outcomes: Outcome[]): void {
    for (const o of outcomes) {
      const w = this.waiters.get(o.id);
      if (!w) continue;
      this.waiters.delete(o.id);
      this.opts.metrics?.inputs.inc({ kind: w.kind, outcome: o.ok ? 'applied' : 'refused' });
      if (o.ok) w.resolve(o.value);
      else w.reject(o.error);
    }
  }
}
