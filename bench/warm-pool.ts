/**
 * Warm pool: with a task already queued for an echo agent at `replicas: 0`, scale to one
 * replica and time (a) from the start of the instance (the control plane begins to claim a
 * warm sandbox, or to start a cold one: `startBeganAt` in its "started instance" log line)
 * to that task running (`startedAt`, stamped by the instance), and (b) from the scale-up
 * request to that task running. An agent with `scaling.warm: 1` (its instance claims a warm
 * sandbox) against the same agent without it (a cold start), alternating in the same run on
 * one flock.
 *
 *   npx tsx bench/warm-pool.ts [--runs 5] [--json]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TERMINAL_STATUSES, type AgentView, type TaskView } from '@aiflock/protocol';
import { IMAGE, containerCpu, benchArgs, describeMachine, echoManifest, fmt, machine, main, median, progress, randomId, sleep, spread, fmtSpread, startFlock, table, until, writeResults, type BenchFlock } from './lib.js';

const KINDS = { cold: 'cold start (no scaling.warm)', warm: 'claim of a warm sandbox (scaling.warm: 1)' } as const;
type Kind = keyof typeof KINDS;
const opts = benchArgs();

interface Run {
  /** Start of the instance (claim or cold start) → task running. */
  startToTaskMs: number;
  /** Scale-up request → task running. */
  scaleToTaskMs: number;
  /** How long the control plane's start (claim) itself took. */
  startMs: number;
  /** CPU the instance's container used from the scale-up to its task running, and how long its CPU quota held it back. */
  cpuMs: number;
  throttledMs: number;
}

main('warm-pool', async () => {
  const f = await startFlock();
  const m = await machine(f.docker);
  const agents: Record<Kind, string> = { cold: `cold-${randomId(6)}`, warm: `warm-${randomId(6)}` };
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const manifest = (await echoManifest(agents[kind], 0)) + (kind === 'warm' ? 'scaling:\n  warm: 1\n' : '');
    await f.api('POST', '/v1/agents', { manifest, filename: `${agents[kind]}.agent.yaml` });
  }
  const runs: Record<Kind, Run[]> = { cold: [], warm: [] };
  // Run 0 warms up caches (image layers, the daemon's JIT) and is left out.
  for (let run = 0; run <= opts.runs; run++) {
    for (const kind of ['cold', 'warm'] as Kind[]) {
      const r = await scaleUpToTaskRunning(f, agents[kind], kind);
      if (run > 0) runs[kind].push(r);
      progress(`${run === 0 ? 'warm-up' : `run ${run}/${opts.runs}`} ${kind}: task running ${fmt(r.startToTaskMs)} ms after the start began (start ${fmt(r.startMs)} ms), ${fmt(r.scaleToTaskMs)} ms after the scale-up; container CPU ${fmt(r.cpuMs)} ms, throttled ${fmt(r.throttledMs)} ms`);
    }
  }
  const of = (k: Kind, x: keyof Run) => spread(runs[k].map((r) => r[x]));
  const summary = {
    startToTaskMs: { cold: of('cold', 'startToTaskMs'), warm: of('warm', 'startToTaskMs') },
    scaleToTaskMs: { cold: of('cold', 'scaleToTaskMs'), warm: of('warm', 'scaleToTaskMs') },
    startMs: { cold: of('cold', 'startMs'), warm: of('warm', 'startMs') },
    cpuMs: { cold: of('cold', 'cpuMs'), warm: of('warm', 'cpuMs') },
    throttledMs: { cold: of('cold', 'throttledMs'), warm: of('warm', 'throttledMs') },
    ratio: {
      startToTask: median(runs.warm.map((r) => r.startToTaskMs)) / median(runs.cold.map((r) => r.startToTaskMs)),
      scaleToTask: median(runs.warm.map((r) => r.scaleToTaskMs)) / median(runs.cold.map((r) => r.scaleToTaskMs)),
    },
  };
  const file = await writeResults('warm-pool', { benchmark: 'warm-pool', date: new Date().toISOString(), machine: m, options: { runs: opts.runs, image: IMAGE }, runs, summary });
  progress(`wrote ${file}`);
  if (opts.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  const row = (k: Kind) => [
    KINDS[k],
    fmtSpread(summary.startToTaskMs[k]),
    k === 'cold' ? '1.00×' : `${summary.ratio.startToTask.toFixed(3)}×`,
    fmtSpread(summary.scaleToTaskMs[k]),
    k === 'cold' ? '1.00×' : `${summary.ratio.scaleToTask.toFixed(3)}×`,
    fmtSpread(summary.startMs[k]),
    `${fmt(summary.cpuMs[k].median)} / ${fmt(summary.throttledMs[k].median)}`,
  ];
  process.stdout.write(
    [
      `Machine: ${describeMachine(m)}`,
      `Median (min–max) of ${opts.runs} runs, ms:`,
      table(['how the instance starts', 'start began → task running', 'vs cold', 'scale-up request → task running', 'vs cold', 'the start (claim) itself', 'its container: CPU / throttled'], (['cold', 'warm'] as Kind[]).map(row)),
    ].join('\n') + '\n',
  );
});

/** With a task queued and no instance: scale to one, time until the task runs; then back to none. */
async function scaleUpToTaskRunning(f: BenchFlock, agent: string, kind: Kind): Promise<Run> {
  const view = () => f.api<AgentView>('GET', `/v1/agents/${agent}`);
  if (kind === 'warm') await until(`a warm sandbox ready for ${agent}`, async () => ((await view()).warm?.ready ?? 0) >= 1, 120_000);
  // A long deadline: under load a start may take longer than the echo example's 30 s.
  const created = await f.api<TaskView | { task: TaskView }>('POST', '/v1/tasks', { agent, type: 'echo', input: { run: randomId() }, timeoutMs: 600_000 });
  const id = 'task' in created ? created.task.id : created.id;
  // The one warm container of this flock (only the warm agent asks for any): its CPU so far.
  const pooled = kind === 'warm' ? (await f.docker.listContainers({ filters: { label: [`aiflock.flock=${f.name}`, 'aiflock.warm'] } })).filter((c) => c.Names.some((n) => /-w_[a-z0-9]{8}$/.test(n))) : [];
  if (kind === 'warm' && pooled.length !== 1) throw new Error(`expected one warm container, found ${pooled.length}`);
  const cpuBefore = pooled[0] ? await containerCpu(pooled[0].Id) : { cpuMs: 0, throttledMs: 0 };
  const t0 = Date.now();
  await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: 1 });
  let task: TaskView;
  for (;;) {
    task = await f.api<TaskView>('GET', `/v1/tasks/${id}`);
    if (task.startedAt && task.instanceId) break;
    if ((TERMINAL_STATUSES as readonly string[]).includes(task.status)) throw new Error(`task ${id} of ${agent} ended ${task.status} before it ran`);
    await sleep(20);
  }
  const containerId = (await view()).instances.find((i) => i.id === task.instanceId)?.containerId;
  const cpuAfter = containerId ? await containerCpu(containerId) : { cpuMs: NaN, throttledMs: NaN };
  if (kind === 'warm' && containerId !== pooled[0]!.Id) throw new Error(`${task.instanceId} runs in ${containerId}, not in the warm container ${pooled[0]!.Id}`);
  const started = await startLine(f, task.instanceId!);
  if (started.start !== kind) throw new Error(`${task.instanceId} was a ${started.start} start, not a ${kind} one (was the pool empty?)`);
  await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: 0 });
  await until(`${agent} back to no instances`, async () => (await view()).instances.length === 0, 120_000);
  const running = Date.parse(task.startedAt!);
  return {
    startToTaskMs: running - Date.parse(started.startBeganAt),
    scaleToTaskMs: running - t0,
    startMs: started.startMs,
    cpuMs: cpuAfter.cpuMs - cpuBefore.cpuMs,
    throttledMs: cpuAfter.throttledMs - cpuBefore.throttledMs,
  };
}

/** The daemon's "started instance" line of `instanceId` (reconciler.ts): when its start began, how, and how long it took. */
async function startLine(f: BenchFlock, instanceId: string): Promise<{ start: Kind; startBeganAt: string; startMs: number }> {
  let found: { start: Kind; startBeganAt: string; startMs: number } | null = null;
  await until(`the daemon's start line of ${instanceId}`, async () => {
    const log = await readFile(join(f.testFlock.home, 'daemon.log'), 'utf8');
    for (const line of log.split('\n')) {
      if (!line.includes(instanceId) || !line.includes('startBeganAt')) continue;
      found = JSON.parse(line) as { start: Kind; startBeganAt: string; startMs: number };
    }
    return found !== null;
  }, 30_000);
  return found!;
}
