/**
 * Warm pool: from the scale-up request (0 → 1 replica, with a task already queued) to that
 * task running, for an echo agent with `scaling.warm: 1` (its instance claims a warm sandbox)
 * against the same agent without it (a cold start), alternating in the same run on one flock.
 *
 *   npx tsx bench/warm-pool.ts [--runs 5] [--json]
 */
import { TERMINAL_STATUSES, type AgentView, type TaskView } from '@aiflock/protocol';
import { IMAGE, benchArgs, describeMachine, echoManifest, fmt, machine, main, median, progress, randomId, sleep, spread, fmtSpread, startFlock, table, until, writeResults, type BenchFlock } from './lib.js';

const KINDS = { cold: 'cold start (no scaling.warm)', warm: 'claim of a warm sandbox (scaling.warm: 1)' } as const;
type Kind = keyof typeof KINDS;
const opts = benchArgs();

main('warm-pool', async () => {
  const f = await startFlock();
  const m = await machine(f.docker);
  const agents: Record<Kind, string> = { cold: `cold-${randomId(6)}`, warm: `warm-${randomId(6)}` };
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const manifest = (await echoManifest(agents[kind], 0)) + (kind === 'warm' ? 'scaling:\n  warm: 1\n' : '');
    await f.api('POST', '/v1/agents', { manifest, filename: `${agents[kind]}.agent.yaml` });
  }
  const runs: Record<Kind, number[]> = { cold: [], warm: [] };
  // Run 0 warms up caches (image layers, the daemon's JIT) and is left out.
  for (let run = 0; run <= opts.runs; run++) {
    for (const kind of ['cold', 'warm'] as Kind[]) {
      const ms = await scaleUpToTaskRunning(f, agents[kind], kind === 'warm');
      if (run > 0) runs[kind].push(ms);
      progress(`${run === 0 ? 'warm-up' : `run ${run}/${opts.runs}`} ${kind}: task running ${fmt(ms)} ms after the scale-up`);
    }
  }
  const summary = { coldMs: spread(runs.cold), warmMs: spread(runs.warm), ratio: median(runs.warm) / median(runs.cold) };
  const file = await writeResults('warm-pool', { benchmark: 'warm-pool', date: new Date().toISOString(), machine: m, options: { runs: opts.runs, image: IMAGE }, runs, summary });
  progress(`wrote ${file}`);
  if (opts.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  process.stdout.write(
    [
      `Machine: ${describeMachine(m)}`,
      `Scale-up request → first task running, median (min–max) of ${opts.runs} runs, ms:`,
      table(
        ['how the instance starts', 'ms', 'vs cold'],
        (Object.keys(KINDS) as Kind[]).map((k) => [KINDS[k], fmtSpread(k === 'cold' ? summary.coldMs : summary.warmMs), k === 'cold' ? '1.00×' : `${summary.ratio.toFixed(2)}×`]),
      ),
    ].join('\n') + '\n',
  );
});

/** With a task queued and no instance: scale to one, time until the task runs; then back to none. */
async function scaleUpToTaskRunning(f: BenchFlock, agent: string, warm: boolean): Promise<number> {
  const view = () => f.api<AgentView>('GET', `/v1/agents/${agent}`);
  if (warm) await until(`a warm sandbox ready for ${agent}`, async () => ((await view()).warm?.ready ?? 0) >= 1, 120_000);
  // A long deadline: under load a start may take longer than the echo example's 30 s.
  const created = await f.api<TaskView | { task: TaskView }>('POST', '/v1/tasks', { agent, type: 'echo', input: { run: randomId() }, timeoutMs: 600_000 });
  const id = 'task' in created ? created.task.id : created.id;
  const t0 = Date.now();
  await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: 1 });
  let task: TaskView;
  for (;;) {
    task = await f.api<TaskView>('GET', `/v1/tasks/${id}`);
    if (task.startedAt) break;
    if ((TERMINAL_STATUSES as readonly string[]).includes(task.status)) throw new Error(`task ${id} of ${agent} ended ${task.status} before it ran`);
    await sleep(20);
  }
  await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: 0 });
  await until(`${agent} back to no instances`, async () => (await view()).instances.length === 0, 120_000);
  return Date.parse(task.startedAt) - t0;
}
