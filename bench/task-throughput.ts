/**
 * Echo task round trip and throughput through the flock (POST /v1/tasks → JetStream work
 * queue → sandboxed instance → result stored by the daemon → `task.result`), against raw
 * NATS request/reply on the same nats-server, measured in the same run.
 *
 * Also batch creates (`POST /v1/tasks:batch`) to an echo agent with room to run them
 * (`concurrency` per instance, a whole CPU), against raw JetStream publish-with-ack plus a
 * raw pull consumer acking, on the same nats-server.
 *
 *   npx tsx bench/task-throughput.ts [--runs 5] [--json] [--latency-tasks 200]
 *                                    [--tasks 500] [--concurrency 32] [--replicas 3]
 *                                    [--batch-tasks 4000] [--batch-size 500] [--wide-concurrency 32]
 *                                    [--wide-in-flight 64]
 *
 * The "one request per task" target of issue 18 is measured against the wide agent
 * (`--wide-in-flight` POST /v1/tasks at once, each its own request): against `bench-echo`
 * (concurrency 1) the rate is bound by one task at a time per instance, not by the API.
 */
import { AckPolicy, JSONCodec, type NatsConnection } from 'nats';
import { STREAMS, type TaskBatchResponse, type TaskList, type TaskView } from '@aiflock/protocol';
import {
  Heartbeats,
  TaskResults,
  benchArgs,
  containerCpu,
  containersOf,
  deployEcho,
  describeMachine,
  fmt,
  fmtSpread,
  machine,
  main,
  median,
  onCleanup,
  percentile,
  processCpuMs,
  progress,
  spread,
  startFlock,
  trimmedMean,
  table,
  until,
  withTimeout,
  writeResults,
  type BenchFlock,
} from './lib.js';

const opts = benchArgs({ 'latency-tasks': 200, tasks: 500, concurrency: 32, replicas: 3, 'batch-tasks': 4000, 'batch-size': 500, 'wide-concurrency': 32, 'wide-in-flight': 64 });
const BATCH_TASKS = opts.extra['batch-tasks']!;
const BATCH_SIZE = opts.extra['batch-size']!;
const WIDE_CONCURRENCY = opts.extra['wide-concurrency']!;
/** The echo agent for batch creates: 2 instances, each a whole CPU and WIDE_CONCURRENCY tasks at once. */
const WIDE = 'bench-echo-wide';
const WIDE_REPLICAS = 2;
/** One-request-per-task creates to WIDE kept in flight at once. */
const WIDE_IN_FLIGHT = opts.extra['wide-in-flight']!;
const LATENCY_TASKS = opts.extra['latency-tasks']!;
const TASKS = opts.extra['tasks']!;
const CONCURRENCY = opts.extra['concurrency']!;
const REPLICAS = opts.extra['replicas']!;
const AGENT = 'bench-echo';
const RAW_SUBJECT = 'bench.echo';
const WARMUP = 20;

interface Latency {
  p50: number;
  p99: number;
}

/** Completed calls per second, and the CPU ms each process spent per call meanwhile. */
interface Throughput {
  perSec: number;
  cpuMsPerTask: Record<string, number>;
  /** Wall ms per call the instances' CPU quota (cpu: 0.25 in the echo manifest) stopped them, summed. */
  throttledMsPerTask: number;
}

interface Run {
  raw: { latency: Latency; throughput: Throughput; jetstream: Throughput };
  flock: {
    latency: Latency;
    /**
     * The same sequential tasks to the WIDE agent (cpu 1): the echo example's `cpu: 0.25` holds
     * an instance back by its quota when tasks come back to back, which this row leaves out.
     */
    latencyWide: Latency;
    /** Over the sequential tasks, ms (see `phasesOf`). */
    phases: Record<string, number>;
    oneReplica: Throughput;
    nReplicas: Throughput;
    /** TASKS tasks, one POST /v1/tasks each, WIDE_IN_FLIGHT at once, to the WIDE agent. */
    wideSingle: Throughput;
    /** BATCH_TASKS tasks created with POST /v1/tasks:batch, to the WIDE agent. */
    batch: Throughput;
    /** Messages the instances stored per task in that phase, in the results and the events streams (results and starts travel in batches). */
    batchMessagesPerTask: { results: number; events: number };
  };
}

main('task-throughput', async () => {
  const f = await startFlock();
  const beats = await Heartbeats.watch(f.nc);
  const results = await TaskResults.watch(f.nc);
  const raw = await rawEcho(f);

  const jetstream = await rawJetStream(f.nc);

  progress(`deploying ${AGENT} (1 replica) and ${WIDE} (${WIDE_REPLICAS} replicas, concurrency ${WIDE_CONCURRENCY}, cpu 1)`);
  await deployEcho(f, AGENT, 1);
  await deployEcho(f, WIDE, WIDE_REPLICAS, { concurrency: WIDE_CONCURRENCY, cpu: 1 });
  await scaleTo(f, beats, 1);
  await scaleTo(f, beats, WIDE_REPLICAS, WIDE);

  const flockTask = async (input: unknown, agent = AGENT) => {
    const wall0 = Date.now();
    const t0 = performance.now();
    const task = await f.api<TaskView>('POST', '/v1/tasks', { agent, input });
    const posted = performance.now();
    const seen = await results.wait(task.id);
    if (seen.result.status !== 'completed') throw new Error(`task ${task.id} ended ${seen.result.status}: ${seen.result.error ?? ''}`);
    return { id: task.id, postMs: posted - t0, wall0, wallSeen: seen.wallAt };
  };

  progress(`warming up: ${WARMUP} flock tasks, ${WARMUP * 10} raw requests`);
  for (let i = 0; i < WARMUP; i++) await flockTask({ warmup: i });
  for (let i = 0; i < WARMUP * 10; i++) await raw.request({ warmup: i });
  await batchOf(f, results, WARMUP * 10);
  await jetstream.run(WARMUP * 10);

  const runs: Run[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const tag = `run ${run}/${opts.runs}`;
    const rawLatency = await sequential(LATENCY_TASKS, (i) => raw.request({ hello: 'flock', i }));
    progress(`${tag} raw request/reply: p50 ${fmt(rawLatency.p50)} ms, p99 ${fmt(rawLatency.p99)} ms`);

    const samples: Awaited<ReturnType<typeof flockTask>>[] = [];
    const flockLatency = await sequential(LATENCY_TASKS, async (i) => samples.push(await flockTask({ hello: 'flock', i })));
    const phases = await phasesOf(f, samples);
    progress(`${tag} flock task: p50 ${fmt(flockLatency.p50)} ms, p99 ${fmt(flockLatency.p99)} ms`);
    const flockLatencyWide = await sequential(LATENCY_TASKS, (i) => flockTask({ hello: 'flock', i }, WIDE));
    progress(`${tag} flock task to ${WIDE} (cpu 1): p50 ${fmt(flockLatencyWide.p50)} ms, p99 ${fmt(flockLatencyWide.p99)} ms`);

    const rawPut = await metered(f, (i) => raw.request({ hello: 'flock', i }));
    progress(`${tag} raw request/reply: ${fmt(rawPut.perSec)} req/s with ${CONCURRENCY} in flight`);
    const oneReplica = await metered(f, (i) => flockTask({ hello: 'flock', i }));
    progress(`${tag} flock, 1 replica: ${fmt(oneReplica.perSec)} tasks/s`);
    await scaleTo(f, beats, REPLICAS);
    const nReplicas = await metered(f, (i) => flockTask({ hello: 'flock', i }));
    progress(`${tag} flock, ${REPLICAS} replicas: ${fmt(nReplicas.perSec)} tasks/s`);
    await scaleTo(f, beats, 1);
    const wideSingle = await meteredPhase(f, WIDE, TASKS, async () => void (await concurrent(TASKS, WIDE_IN_FLIGHT, (i) => flockTask({ hello: 'flock', i }, WIDE))));
    progress(`${tag} flock, one request per task to ${WIDE} (${WIDE_IN_FLIGHT} in flight): ${fmt(wideSingle.perSec)} tasks/s`);

    const rawJs = await meteredPhase(f, WIDE, BATCH_TASKS, () => jetstream.run(BATCH_TASKS));
    progress(`${tag} raw JetStream publish-with-ack + pull consumer ack: ${fmt(rawJs.perSec)} msg/s`);
    const stored = await storedMessages(f.nc);
    let redelivered = 0;
    const batch = await meteredPhase(f, WIDE, BATCH_TASKS, async () => void ({ redelivered } = await batchOf(f, results, BATCH_TASKS)));
    const storedAfter = await storedMessages(f.nc);
    const batchMessagesPerTask = { results: (storedAfter.results - stored.results) / BATCH_TASKS, events: (storedAfter.events - stored.events) / BATCH_TASKS };
    progress(`${tag} flock, batches of ${BATCH_SIZE} to ${WIDE}: ${fmt(batch.perSec)} tasks/s (${redelivered} finished on a later attempt)`);

    runs.push({ raw: { latency: rawLatency, throughput: rawPut, jetstream: rawJs }, flock: { latency: flockLatency, latencyWide: flockLatencyWide, phases, oneReplica, nReplicas, wideSingle, batch, batchMessagesPerTask } });
  }

  const s = (pick: (r: Run) => number) => spread(runs.map(pick));
  const cpu = (pick: (r: Run) => Throughput) => Object.fromEntries(Object.keys(pick(runs[0]!).cpuMsPerTask).map((k) => [k, median(runs.map((r) => pick(r).cpuMsPerTask[k]!))]));
  const summary = {
    latencyMs: {
      raw: { p50: s((r) => r.raw.latency.p50), p99: s((r) => r.raw.latency.p99) },
      flock: { p50: s((r) => r.flock.latency.p50), p99: s((r) => r.flock.latency.p99) },
      flockWide: { p50: s((r) => r.flock.latencyWide.p50), p99: s((r) => r.flock.latencyWide.p99) },
      ratio: { p50: s((r) => r.flock.latency.p50 / r.raw.latency.p50), p99: s((r) => r.flock.latency.p99 / r.raw.latency.p99) },
    },
    perSec: {
      raw: s((r) => r.raw.throughput.perSec),
      flock1: s((r) => r.flock.oneReplica.perSec),
      flockN: s((r) => r.flock.nReplicas.perSec),
      ratio1: s((r) => r.flock.oneReplica.perSec / r.raw.throughput.perSec),
      ratioN: s((r) => r.flock.nReplicas.perSec / r.raw.throughput.perSec),
      scaling: s((r) => r.flock.nReplicas.perSec / r.flock.oneReplica.perSec),
      wideSingle: s((r) => r.flock.wideSingle.perSec),
      ratioWideSingle: s((r) => r.flock.wideSingle.perSec / r.raw.jetstream.perSec),
      rawJetStream: s((r) => r.raw.jetstream.perSec),
      batch: s((r) => r.flock.batch.perSec),
      ratioBatch: s((r) => r.flock.batch.perSec / r.raw.jetstream.perSec),
    },
    cpuMsPerTaskMedian: {
      raw: cpu((r) => r.raw.throughput),
      flock1: cpu((r) => r.flock.oneReplica),
      flockN: cpu((r) => r.flock.nReplicas),
      wideSingle: cpu((r) => r.flock.wideSingle),
      rawJetStream: cpu((r) => r.raw.jetstream),
      batch: cpu((r) => r.flock.batch),
    },
    throttledMsPerTaskMedian: {
      flock1: median(runs.map((r) => r.flock.oneReplica.throttledMsPerTask)),
      flockN: median(runs.map((r) => r.flock.nReplicas.throttledMsPerTask)),
    },
    batchMessagesPerTaskMedian: {
      results: median(runs.map((r) => r.flock.batchMessagesPerTask.results)),
      events: median(runs.map((r) => r.flock.batchMessagesPerTask.events)),
    },
    phasesMedianMs: Object.fromEntries(Object.keys(runs[0]!.flock.phases).map((k) => [k, median(runs.map((r) => r.flock.phases[k]!))])),
  };
  const m = await machine(f.docker);
  const options = { runs: opts.runs, latencyTasks: LATENCY_TASKS, tasks: TASKS, concurrency: CONCURRENCY, replicas: REPLICAS, agentConcurrency: 1, batchTasks: BATCH_TASKS, batchSize: BATCH_SIZE, wideReplicas: WIDE_REPLICAS, wideConcurrency: WIDE_CONCURRENCY, wideInFlight: WIDE_IN_FLIGHT };
  const file = await writeResults('task-throughput', {
    benchmark: 'task-throughput',
    date: new Date().toISOString(),
    machine: m,
    options,
    runs,
    summary,
  });
  progress(`wrote ${file}`);

  if (opts.json) {
    process.stdout.write(JSON.stringify({ machine: m, options, summary }, null, 2) + '\n');
    return;
  }
  const { latencyMs: l, perSec: p } = summary;
  const lines = [
    `### Echo task round trip and throughput (runs: ${opts.runs}; median (min–max) over runs)`,
    '',
    `Machine: ${describeMachine(m)}`,
    '',
    `Latency: ${LATENCY_TASKS} sequential tasks per run, ms.`,
    '',
    table(
      ['', 'p50', 'p99'],
      [
        ['raw NATS request/reply (host-side responder)', fmtSpread(l.raw.p50), fmtSpread(l.raw.p99)],
        [`aiflock: POST /v1/tasks → result on task.result (${AGENT}, cpu 0.25 as in examples/echo.agent.yaml)`, fmtSpread(l.flock.p50), fmtSpread(l.flock.p99)],
        [`aiflock: the same to ${WIDE} (cpu 1: no quota holding the instance back)`, fmtSpread(l.flockWide.p50), fmtSpread(l.flockWide.p99)],
        ['ratio aiflock / raw (per run, then median)', fmtSpread(l.ratio.p50), fmtSpread(l.ratio.p99)],
      ],
    ),
    '',
    `Throughput: ${TASKS} tasks (requests) per run, ${CONCURRENCY} in flight.`,
    '',
    table(
      ['', 'per second', 'ratio to raw'],
      [
        ['raw NATS request/reply', fmtSpread(p.raw), '1'],
        ['aiflock, echo at 1 replica', fmtSpread(p.flock1), fmtSpread(p.ratio1)],
        [`aiflock, echo at ${REPLICAS} replicas`, fmtSpread(p.flockN), fmtSpread(p.ratioN)],
        [`scaling ${REPLICAS} replicas / 1 replica`, fmtSpread(p.scaling), ''],
      ],
    ),
    '',
    `Batch creates: ${BATCH_TASKS} tasks per run in POST /v1/tasks:batch requests of ${BATCH_SIZE} (4 in flight), to ${WIDE} (${WIDE_REPLICAS} instances, concurrency ${WIDE_CONCURRENCY}, cpu 1), until every result was seen on task.result.`,
    '',
    table(
      ['', 'per second', 'ratio to raw JetStream'],
      [
        ['raw JetStream: publish with ack + pull consumer acking', fmtSpread(p.rawJetStream), '1'],
        [`aiflock, one POST /v1/tasks per task (${WIDE_IN_FLIGHT} in flight) → result seen`, fmtSpread(p.wideSingle), fmtSpread(p.ratioWideSingle)],
        ['aiflock, batch create → result stored and seen', fmtSpread(p.batch), fmtSpread(p.ratioBatch)],
      ],
    ),
    '',
    `Messages the instances stored per batch-created task (median): ${fmt(summary.batchMessagesPerTaskMedian.results)} in the results stream (results travel in batches), ${fmt(summary.batchMessagesPerTaskMedian.events)} in the events stream (each task's start alone, its log lines in batches).`,
    '',
    "Where a sequential task's time goes (ms; 10 %-trimmed mean over the sequential tasks, then median over runs; from the task record's whole-ms timestamps, so read them as ±1 ms):",
    '',
    table(Object.keys(summary.phasesMedianMs), [Object.values(summary.phasesMedianMs).map(fmt)]),
    '',
    'CPU time per task during the throughput phases (median ms; host processes from /proc/<pid>/task/*/schedstat, instances from their cgroup):',
    '',
    table(
      ['', 'wall time per task', ...Object.keys(summary.cpuMsPerTaskMedian.raw), 'cores busy (CPU × rate)', 'instances held back by their CPU quota'],
      (
        [
          ['raw NATS request/reply', p.raw, summary.cpuMsPerTaskMedian.raw, 0],
          ['aiflock, 1 replica', p.flock1, summary.cpuMsPerTaskMedian.flock1, summary.throttledMsPerTaskMedian.flock1],
          [`aiflock, ${REPLICAS} replicas`, p.flockN, summary.cpuMsPerTaskMedian.flockN, summary.throttledMsPerTaskMedian.flockN],
          ['raw JetStream publish + consume', p.rawJetStream, summary.cpuMsPerTaskMedian.rawJetStream, 0],
          [`aiflock, one request per task to ${WIDE}`, p.wideSingle, summary.cpuMsPerTaskMedian.wideSingle, 0],
          [`aiflock, batch create to ${WIDE}`, p.batch, summary.cpuMsPerTaskMedian.batch, 0],
        ] as const
      ).map(([label, perSec, cpuMs, throttled]) => {
        const cores = (Object.values(cpuMs).reduce((a, b) => a + b, 0) * perSec.median) / 1000;
        return [label, fmt(1000 / perSec.median), ...Object.values(cpuMs).map(fmt), fmt(cores), fmt(throttled)];
      }),
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
});

/** A responder that echoes, on its own host-side connection, and a request function. */
async function rawEcho(f: BenchFlock): Promise<{ request: (data: unknown) => Promise<void> }> {
  const codec = JSONCodec();
  // Its own connection with the bench's operator credentials: the flock's bus refuses anonymous clients.
  const responder = await f.connectBus('aiflock-bench-responder');
  onCleanup('close the raw responder connection', () => responder.close());
  responder.subscribe(RAW_SUBJECT, {
    callback: (err, m) => {
      if (!err) m.respond(m.data);
    },
  });
  await responder.flush();
  return {
    request: async (data) => {
      const reply = await f.nc.request(RAW_SUBJECT, codec.encode(data), { timeout: 10_000 });
      if (reply.data.length === 0) throw new Error('empty raw reply');
    },
  };
}

/** `n` calls one after the other; p50/p99 of their durations. */
async function sequential(n: number, one: (i: number) => Promise<unknown>): Promise<Latency> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await one(i);
    ms.push(performance.now() - t0);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** `n` calls with at most `inFlight` at a time; completed calls per second. */
async function concurrent(n: number, inFlight: number, one: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) await one(next++);
  };
  await withTimeout(`${n} calls`, 300_000, Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker)));
  return n / ((performance.now() - t0) / 1000);
}

/** `concurrent` over TASKS calls, with the CPU time the flock's processes spent meanwhile. */
async function metered(f: BenchFlock, one: (i: number) => Promise<unknown>): Promise<Throughput> {
  return meteredPhase(f, AGENT, TASKS, async () => {
    await concurrent(TASKS, CONCURRENCY, one);
  });
}

/** `phase` (which completes `n` calls), timed, with the CPU time the flock's processes (and `agent`'s instances) spent meanwhile. */
async function meteredPhase(f: BenchFlock, agent: string, n: number, phase: () => Promise<void>): Promise<Throughput> {
  const instances = (await containersOf(f, agent)).filter((c) => c.State === 'running').map((c) => c.Id);
  const cpuNow = async (): Promise<Record<string, number>> => {
    const own = process.cpuUsage();
    const perInstance = await Promise.all(instances.map(containerCpu));
    return {
      daemon: await processCpuMs(f.daemonPid),
      'nats-server': await processCpuMs(f.natsPid),
      'echo instances': perInstance.reduce((a, b) => a + b.cpuMs, 0),
      'bench client': (own.user + own.system) / 1000,
      throttled: perInstance.reduce((a, b) => a + b.throttledMs, 0),
    };
  };
  const before = await cpuNow();
  const t0 = performance.now();
  await withTimeout(`${n} calls`, 300_000, phase());
  const perSec = n / ((performance.now() - t0) / 1000);
  const after = await cpuNow();
  const { throttled, ...cpuMsPerTask } = Object.fromEntries(Object.keys(before).map((k) => [k, (after[k]! - before[k]!) / n]));
  return { perSec, cpuMsPerTask, throttledMsPerTask: throttled ?? NaN };
}

/** How many messages the results and events streams have stored so far (their last sequence). */
async function storedMessages(nc: NatsConnection): Promise<{ results: number; events: number }> {
  const jsm = await nc.jetstreamManager();
  const [results, events] = await Promise.all([STREAMS.results.name, STREAMS.events.name].map(async (name) => (await jsm.streams.info(name)).state.last_seq));
  return { results: results!, events: events! };
}

/**
 * Scale the echo agent and wait until exactly `n` containers run and every one of them
 * sent a ready (idle) heartbeat, i.e. is pulling tasks.
 */
async function scaleTo(f: BenchFlock, beats: Heartbeats, n: number, agent = AGENT): Promise<void> {
  await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: n });
  await until(`${n} ready ${agent} instance(s)`, async () => {
    const running = (await containersOf(f, agent)).filter((c) => c.State === 'running');
    return running.length === n && running.every((c) => beats.ready.has(c.Labels['aiflock.instance'] ?? ''));
  });
}

/**
 * Split the sequential tasks' time with the timestamps the flock recorded: created (daemon,
 * before it stores and enqueues), started (the instance picked it up), finished (the daemon
 * stored the result); plus when the POST answered and the result reached us.
 */
async function phasesOf(f: BenchFlock, samples: { id: string; postMs: number; wall0: number; wallSeen: number }[]): Promise<Record<string, number>> {
  const ids = new Set(samples.map((s) => s.id));
  const { tasks } = await f.api<TaskList>('GET', `/v1/tasks?agent=${AGENT}&limit=500`);
  const byId = new Map(tasks.filter((t) => ids.has(t.id)).map((t) => [t.id, t]));
  const rows = samples.flatMap((s) => {
    const t = byId.get(s.id);
    if (!t?.startedAt || !t.finishedAt) return [];
    const [created, started, finished] = [t.createdAt, t.startedAt, t.finishedAt].map(Date.parse) as [number, number, number];
    return [{ post: s.postMs, sentToCreated: created - s.wall0, queued: started - created, running: finished - started, toObserver: s.wallSeen - finished }];
  });
  const med = (pick: (r: (typeof rows)[number]) => number) => trimmedMean(rows.map(pick));
  return {
    'POST /v1/tasks answered': med((r) => r.post),
    'sent → created': med((r) => r.sentToCreated),
    'created → picked up by the instance': med((r) => r.queued),
    'picked up → result stored': med((r) => r.running),
    'stored → seen on task.result': med((r) => r.toObserver),
  };
}

/**
 * `n` echo tasks for WIDE, created in POST /v1/tasks:batch requests of BATCH_SIZE with 4
 * requests in flight; resolves once every result was seen on `task.result`. Their deadline
 * is 10 minutes: all of them are queued at once, and the manifest's 30 s would time out the
 * last ones on a slow machine.
 */
async function batchOf(f: BenchFlock, results: TaskResults, n: number): Promise<{ redelivered: number }> {
  let redelivered = 0;
  const batches = Array.from({ length: Math.ceil(n / BATCH_SIZE) }, (_, b) =>
    Array.from({ length: Math.min(BATCH_SIZE, n - b * BATCH_SIZE) }, (_, i) => ({ agent: WIDE, input: { hello: 'flock', i: b * BATCH_SIZE + i }, timeoutMs: 600_000 })),
  );
  const waits: Promise<unknown>[] = [];
  await concurrent(batches.length, 4, async (b) => {
    const res = await f.api<TaskBatchResponse>('POST', '/v1/tasks:batch', { tasks: batches[b] });
    if (res.failed > 0) throw new Error(`batch create refused ${res.failed} task(s): ${JSON.stringify(res.results.find((r) => !r.ok))}`);
    for (const r of res.results) if (r.ok) waits.push(results.wait(r.task.id, 120_000).then((seen) => {
      if (seen.result.status !== 'completed') throw new Error(`task ${r.task.id} ended ${seen.result.status}`);
      // A later attempt: its first delivery went unanswered until the queue's ack wait ran out.
      if (seen.result.attempt > 1) redelivered++;
    }));
  });
  await Promise.all(waits);
  return { redelivered };
}

/**
 * The baseline for batch creates: a JetStream stream and a durable pull consumer of its own
 * on the flock's nats-server. `run(n)` publishes n messages, each waiting for its ack from
 * the server (up to BATCH_SIZE in flight), while the consumer pulls and acks each; it
 * resolves when the last one was acked.
 */
async function rawJetStream(nc: NatsConnection): Promise<{ run: (n: number) => Promise<void> }> {
  const codec = JSONCodec();
  const stream = 'BENCH_RAW_JS';
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: ['bench.rawjs.>'] });
  await jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
  onCleanup('remove the raw JetStream stream', () => jsm.streams.delete(stream).then(() => undefined));
  const js = nc.jetstream();
  const consumer = await js.consumers.get(stream, 'bench');
  return {
    run: async (n) => {
      let acked = 0;
      // Pull in batches and ack each, while the publishes go on.
      const pulling = (async () => {
        while (acked < n) {
          const batch = await consumer.fetch({ max_messages: 512, expires: 1_000 });
          for await (const m of batch) {
            m.ack();
            acked++;
          }
        }
      })();
      await concurrent(n, BATCH_SIZE, (i) => js.publish(`bench.rawjs.${i % 16}`, codec.encode({ hello: 'flock', i })));
      await withTimeout(`${n} raw JetStream messages acked`, 120_000, pulling);
    },
  };
}
