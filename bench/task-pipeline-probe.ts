/**
 * Where the batch task path waits: creates `--tasks` echo tasks in POST /v1/tasks:batch
 * requests (as task-throughput.ts does) and, every 250 ms meanwhile, samples where the
 * backlog sits: tasks queued and in flight (the agent's JetStream consumer), results and
 * events stored by instances but not yet by the daemon (the daemon's consumers), and the
 * store's group commits (size and time, from /metrics). A stage whose backlog grows is the
 * one that bounds the rate; one that stays near empty is waiting on the stage before it.
 *
 *   npx tsx bench/task-pipeline-probe.ts [--tasks 4000] [--batch-size 500] [--wide-concurrency 32]
 */
import { subjects, type TaskBatchResponse } from '@aiflock/protocol';
import { TaskResults, benchArgs, deployEcho, containersOf, fmt, main, progress, startFlock, until, withTimeout } from './lib.js';

const opts = benchArgs({ tasks: 4000, 'batch-size': 500, 'wide-concurrency': 32 });
const TASKS = opts.extra['tasks']!;
const BATCH_SIZE = opts.extra['batch-size']!;
const AGENT = 'probe-echo-wide';

main('task-pipeline-probe', async () => {
  const f = await startFlock();
  const results = await TaskResults.watch(f.nc);
  let finished = 0;
  f.nc.subscribe(subjects.taskResult, { callback: () => void finished++ });
  await deployEcho(f, AGENT, 2, { concurrency: opts.extra['wide-concurrency']!, cpu: 1 });
  await until('2 running instances', async () => (await containersOf(f, AGENT)).filter((c) => c.State === 'running').length === 2);
  const jsm = await f.nc.jetstreamManager();
  const consumer = async (stream: string, name: string) => {
    const i = await jsm.consumers.info(stream, name).catch(() => null);
    return i ? { pending: i.num_pending, acking: i.num_ack_pending } : { pending: -1, acking: -1 };
  };
  const metric = async (): Promise<{ writes: number; groups: number; seconds: number }> => {
    const res = await fetch(`${f.testFlock.apiUrl}/metrics`, { headers: { authorization: `Bearer ${await f.testFlock.adminToken()}` } });
    const text = await res.text();
    const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    return {
      writes: num(/^aiflock_store_group_commit_writes_sum (\S+)/m),
      groups: num(/^aiflock_store_group_commit_writes_count (\S+)/m),
      seconds: num(/^aiflock_store_group_commit_seconds_sum (\S+)/m),
    };
  };

  // Warm up: one small batch, every result seen.
  const run = async (n: number) => {
    const waits: Promise<unknown>[] = [];
    const batches = Array.from({ length: Math.ceil(n / BATCH_SIZE) }, (_, b) => Array.from({ length: Math.min(BATCH_SIZE, n - b * BATCH_SIZE) }, (_, i) => ({ agent: AGENT, input: { i: b * BATCH_SIZE + i }, timeoutMs: 600_000 })));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const res = await f.api<TaskBatchResponse>('POST', '/v1/tasks:batch', { tasks: batches[next++] });
          for (const r of res.results) if (r.ok) waits.push(results.wait(r.task.id, 600_000));
        }
      }),
    );
    await Promise.all(waits);
  };
  await run(200);

  let done = false;
  let seen = 0;
  const t0 = performance.now();
  const m0 = await metric();
  const sampler = (async () => {
    let last = m0;
    while (!done) {
      await new Promise((r) => setTimeout(r, 250));
      const [q, r, e, m] = await Promise.all([consumer('FLOCK_TASKS', `agent-${AGENT}`), consumer('FLOCK_RESULTS', 'daemon-results'), consumer('FLOCK_EVENTS', 'daemon-events'), metric()]);
      const groups = m.groups - last.groups;
      progress(
        `t=${fmt((performance.now() - t0) / 1000)}s results seen ${finished - seen} | task queue pending ${q.pending} in flight ${q.acking} | ` +
          `results backlog ${r.pending}+${r.acking} | events backlog ${e.pending}+${e.acking} | group commits ${groups} (mean ${fmt(groups ? (m.writes - last.writes) / groups : 0)} writes, ${fmt(groups ? ((m.seconds - last.seconds) / groups) * 1000 : 0)} ms)`,
      );
      last = m;
    }
  })();
  seen = finished;
  await withTimeout(`${TASKS} tasks`, 600_000, run(TASKS));
  const secs = (performance.now() - t0) / 1000;
  done = true;
  await sampler;
  const m1 = await metric();
  // Inside one instance: from its "task started:" line (start stored, handler called) to its
  // "task completed in" line (result stored; the ack's confirmation is no longer awaited
  // before it since the slot frees on the stored result), per task.
  const [one] = (await containersOf(f, AGENT)).filter((c) => c.State === 'running');
  if (one) {
    const raw = await f.docker.getContainer(one.Id).logs({ stdout: true, stderr: false, tail: 4000 });
    const lines = raw.toString('utf8').split('\n').flatMap((l) => {
      const at = l.indexOf('{');
      try {
        return at < 0 ? [] : [JSON.parse(l.slice(at)) as { ts: string; msg: string; taskId?: string }];
      } catch {
        return [];
      }
    });
    const started = new Map<string, number>();
    const spans: number[] = [];
    for (const l of lines) {
      if (!l.taskId) continue;
      if (l.msg.startsWith('task started:')) started.set(l.taskId, Date.parse(l.ts));
      else if (l.msg.startsWith('task completed in') && started.has(l.taskId)) spans.push(Date.parse(l.ts) - started.get(l.taskId)!);
    }
    spans.sort((a, b) => a - b);
    const q = (p: number) => spans[Math.min(spans.length - 1, Math.floor((p / 100) * spans.length))] ?? NaN;
    progress(`one instance, ${spans.length} tasks: handler start → result stored, ms p50 ${q(50)} p90 ${q(90)} p99 ${q(99)}`);
  }
  progress(`${TASKS} tasks in ${fmt(secs)} s: ${fmt(TASKS / secs)} tasks/s; ${fmt((m1.writes - m0.writes) / TASKS)} store writes and ${fmt((m1.groups - m0.groups) / TASKS)} commits per task`);
});
