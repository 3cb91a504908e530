/**
 * Losing a host of three with 1,000 tasks in flight (issue 17), measured: the scenario of
 * test/nodes-chaos.test.ts (testkit/host-loss.ts) at full size, once per run, each run on a
 * fresh set of hosts and flock. From the SIGKILL of the host whose server leads the task
 * stream: → node `lost`, → its 2 instances placed and running elsewhere, → ready, → all tasks
 * done; and how many tasks ran again. Every run also checks what the test proves (every task
 * completed once, each re-run the lost host's) and fails if not: a figure from a broken run
 * means nothing. Times are polled every 250 ms. Needs root, `ip`, bubblewrap, PostgreSQL.
 *
 *   npx tsx bench/nodes-chaos.ts [--runs 5] [--json] [--tasks 1000] [--kill-at 100]
 *
 * Each run takes minutes (setup, 1,000 tasks, cleanup): `--runs 1` for one figure.
 */
import { loadavg } from 'node:os';
import { loseHost, startHostLoss, type HostLossSetup } from '../testkit/host-loss.js';
import { benchArgs, fmtSpread, main, onCleanup, progress, spread, table, writeResults } from './lib.js';

const opts = benchArgs({ tasks: 1000, 'kill-at': 100 });
const RUNS = opts.runs;
const TASKS = opts.extra['tasks']!;
const KILL_AT = opts.extra['kill-at']!;

main('nodes-chaos', async () => {
  if (KILL_AT >= TASKS) throw new Error(`--kill-at ${KILL_AT} must be below --tasks ${TASKS}: the host dies with tasks in flight`);
  const runs: Record<string, unknown>[] = [];
  for (let run = 0; run < RUNS; run++) {
    progress(`run ${run + 1}/${RUNS}`);
    let s: HostLossSetup | undefined;
    onCleanup(`run ${run + 1}'s hosts and flock`, async () => s?.close());
    s = await startHostLoss(progress);
    const loadBefore = loadavg()[0]!;
    const r = await loseHost(s, { tasks: TASKS, killAt: KILL_AT, idempotencyPrefix: `bench-${run}` }, progress);
    const twice = r.ids.filter((id) => r.finals.get(id) !== 1);
    const wrong = r.found.filter((x) => x.status !== 'completed');
    if (r.found.length !== TASKS || twice.length > 0 || wrong.length > 0 || r.unexplained.length > 0) {
      throw new Error(`run ${run + 1} broke the guarantee: ${r.found.length} rows, ${wrong.length} not completed, ${twice.length} not completed exactly once, ${r.unexplained.length} re-runs not the lost host's`);
    }
    runs.push({ ...r.figures, load: [loadBefore, loadavg()[0]!].map((x) => Number(x.toFixed(1))) });
    progress(`run ${run + 1}: ${JSON.stringify(runs.at(-1))}`);
    await s.close();
    s = undefined;
  }
  const ms = (k: string) => spread(runs.map((x) => (x[k] as number) / 1000));
  const rows = ['nodeLostAfterMs', 'placedElsewhereMs', 'runningElsewhereMs', 'readyElsewhereMs', 'allDoneMs'].map((k) => [k.replace(/Ms$/, ''), `${fmtSpread(ms(k))} s`]);
  const summary = { tasks: TASKS, killAt: KILL_AT, runs };
  const file = await writeResults('nodes-chaos', summary);
  if (opts.json) return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${table(['from the kill', `median (min–max) of ${RUNS}`], rows)}\n\nwritten to ${file}\n`);
});
