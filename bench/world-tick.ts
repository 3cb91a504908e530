/**
 * World tick time with 10, 100 and 1,000 villagers who never stop walking: each one that
 * arrives is sent on to another landmark or tile at once, so every tick moves everyone and
 * path searches compete for the shared budget. The tick is the engine's `advance()` (inputs
 * applied, paths planned, everyone stepped, the delta built), on the default village map.
 * Baseline in the same run: one `structuredClone` of the same world's state (touching the
 * whole state once).
 *
 *   npx tsx bench/world-tick.ts [--runs 5] [--json] [--ticks 400]
 */
import { WorldEngine, isWalkable, type WorldInput } from '@aiflock/core';
import { ConfigSchema } from '../packages/daemon/src/config.js';
import { DEFAULT_MAP, loadMap } from '../packages/daemon/src/world/load-map.js';
import { benchArgs, fmt, main, median, percentile, progress, table, writeResults } from './lib.js';

const opts = benchArgs({ ticks: 400 });
const TICKS = opts.extra['ticks']!;
const WARMUP = 50;
const SIZES = [10, 100, 1000];

interface RunResult {
  tickP50Ms: number;
  tickP99Ms: number;
  cloneMs: number;
  moves: number;
  paths: number;
  /** Path searches waiting for budget, averaged over the measured ticks. */
  waiting: number;
}

async function measure(villagers: number, seed: number): Promise<RunResult> {
  const { map } = await loadMap(DEFAULT_MAP);
  // The daemon's defaults (path budget, radii), so the figure is the one a flock runs with.
  const w = ConfigSchema.parse({ dataDir: '/tmp/unused' }).world;
  const engine = WorldEngine.create(map, { tickMs: w.tickMs, pathBudget: w.pathBudget, hearingRadius: w.hearingRadius, sightRadius: w.sightRadius, seed });
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const names = Array.from({ length: villagers }, (_, i) => `v${i}`);
  for (const name of names) engine.submit({ kind: 'join', name, policy: 'rules', model: null, home: null, status: 'active' });
  engine.advance();
  const walking = new Set<string>();
  let paths = 0;
  let moves = 0;
  const send = () => {
    for (const name of names) {
      if (walking.has(name) && engine.villager(name)!.goal !== null) continue;
      let move: Extract<WorldInput, { kind: 'move' }>['move'];
      if (rnd() < 0.5) move = { to: map.landmarks[Math.floor(rnd() * map.landmarks.length)]!.name };
      else {
        let x: number;
        let y: number;
        do {
          x = Math.floor(rnd() * map.width);
          y = Math.floor(rnd() * map.height);
        } while (!isWalkable(map, x, y));
        move = { x, y };
      }
      engine.submit({ kind: 'move', name, move });
      walking.add(name);
      paths++;
    }
  };
  const times: number[] = [];
  let waiting = 0;
  for (let t = 0; t < WARMUP + TICKS; t++) {
    // Re-targeting is part of what a tick costs the daemon (each is an input).
    const t0 = performance.now();
    send();
    const r = engine.advance();
    const dt = performance.now() - t0;
    if (t >= WARMUP) {
      times.push(dt);
      moves += r.delta?.changes.filter((c) => c.type === 'moved').length ?? 0;
      waiting += engine.pendingPaths();
    }
  }
  const clones: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    engine.save(); // exactly one structuredClone of the state
    clones.push(performance.now() - t0);
  }
  return { tickP50Ms: median(times), tickP99Ms: percentile(times, 99), cloneMs: median(clones), moves: moves / TICKS, paths, waiting: waiting / TICKS };
}

main('world-tick', async () => {
  const rows: Record<number, RunResult[]> = {};
  for (let run = 1; run <= opts.runs; run++) {
    for (const n of SIZES) {
      progress(`run ${run}/${opts.runs}: ${n} villagers, ${TICKS} ticks`);
      (rows[n] ??= []).push(await measure(n, 1000 + run));
    }
  }
  const summary = SIZES.map((n) => {
    const rs = rows[n]!;
    const p50 = median(rs.map((r) => r.tickP50Ms));
    const p99 = median(rs.map((r) => r.tickP99Ms));
    const clone = median(rs.map((r) => r.cloneMs));
    return { villagers: n, tickP50Ms: p50, tickP99Ms: p99, cloneMs: clone, p50OverClone: p50 / clone, movesPerTick: median(rs.map((r) => r.moves)), pathsPerRun: median(rs.map((r) => r.paths)), waiting: median(rs.map((r) => r.waiting)) };
  });
  const file = await writeResults('world-tick', { ticks: TICKS, runs: opts.runs, summary, raw: rows });
  progress(`raw figures in ${file}`);
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ ticks: TICKS, runs: opts.runs, summary }, null, 2)}\n`);
  process.stdout.write(
    `${table(
      ['villagers', 'tick p50 (ms)', 'tick p99 (ms)', 'structuredClone of the state (ms)', 'p50 / clone', 'moves per tick', 'paths asked for', 'searches waiting for budget (mean)'],
      summary.map((r) => [String(r.villagers), fmt(r.tickP50Ms), fmt(r.tickP99Ms), fmt(r.cloneMs), fmt(r.p50OverClone), fmt(r.movesPerTick), fmt(r.pathsPerRun), fmt(r.waiting)]),
    )}\n\nMedians of ${opts.runs} runs of ${TICKS} ticks each (after ${WARMUP} warm-up ticks).\n`,
  );
});
