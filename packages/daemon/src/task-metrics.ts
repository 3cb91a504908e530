import { Counter, Histogram, type Registry } from 'prom-client';
import type { TaskRecord } from '@aiflock/core';
import type { TaskThroughput } from '@aiflock/protocol';

/** Seconds from a few milliseconds (an echo task in a warm flock) to half an hour. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

/**
 * Task throughput and latency for Prometheus: finished tasks by agent and status (their rate
 * is the throughput), creation → result stored, creation → started, and how many writes the
 * store's group commit put in each transaction.
 */
export function createTaskMetrics(registry: Registry) {
  const finished = new Counter({
    name: 'aiflock_tasks_finished_total',
    help: 'Tasks that reached a final status, by agent and status (rate() of it is the task throughput)',
    labelNames: ['agent', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'aiflock_task_latency_seconds',
    help: 'From a task being created to its final status being stored (queue wait + run + result), by agent and status',
    labelNames: ['agent', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'aiflock_task_queue_wait_seconds',
    help: 'From a task being created to an instance starting it, by agent (finished tasks that were started)',
    labelNames: ['agent'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const batchWrites = new Histogram({
    name: 'aiflock_store_group_commit_writes',
    help: 'Store writes of the task path committed together in one transaction',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'aiflock_store_group_commit_seconds',
    help: 'How long one group-commit transaction took, from BEGIN to COMMIT',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  return {
    finished(t: TaskRecord): void {
      finished.inc({ agent: t.agent, status: t.status });
      const spans = taskSpans(t);
      if (spans.totalMs !== null) latency.observe({ agent: t.agent, status: t.status }, spans.totalMs / 1000);
      if (spans.waitMs !== null) queueWait.observe({ agent: t.agent }, spans.waitMs / 1000);
    },
    groupCommit(writes: number, ms: number): void {
      batchWrites.observe(writes);
      batchSeconds.observe(ms / 1000);
    },
  };
}
export type TaskMetrics = ReturnType<typeof createTaskMetrics>;

/** Creation → final status, and creation → start, in ms from the task's own timestamps (null when unknown). */
export function taskSpans(t: TaskRecord): { totalMs: number | null; waitMs: number | null } {
  const created = Date.parse(t.createdAt);
  const span = (iso: string | null) => (iso === null ? null : Math.max(0, Date.parse(iso) - created));
  return { totalMs: span(t.finishedAt), waitMs: span(t.startedAt) };
}

/**
 * Tasks finished in the last `windowMs`, kept in memory for `aiflock stats` (`/v1/status`):
 * how many, per second, and the latency percentiles of that window. At most `max` samples are
 * kept (the newest); at a higher rate the percentiles are those of the newest `max`.
 */
export class TaskRates {
  private samples: { at: number; ms: number }[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = 60_000,
    private readonly max = 50_000,
  ) {}

  finished(t: TaskRecord): void {
    const { totalMs } = taskSpans(t);
    if (totalMs === null) return;
    this.samples.push({ at: this.now(), ms: totalMs });
    if (this.samples.length > this.max * 2) this.samples = this.samples.slice(-this.max);
  }

  snapshot(): TaskThroughput {
    const since = this.now() - this.windowMs;
    this.samples = this.samples.filter((s) => s.at > since).slice(-this.max);
    const sorted = this.samples.map((s) => s.ms).sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
    return {
      windowSeconds: this.windowMs / 1000,
      finished: sorted.length,
      perSecond: sorted.length / (this.windowMs / 1000),
      latencyMs: sorted.length ? { p50: at(50), p90: at(90), p99: at(99) } : null,
    };
  }
}
