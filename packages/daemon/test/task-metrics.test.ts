import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { TaskRecord } from '@aiflock/core';
import { TaskRates, createTaskMetrics } from '../src/task-metrics.js';

const at = (ms: number) => new Date(Date.parse('2026-12-01T00:00:00Z') + ms).toISOString();
const finished = (createdMs: number, startedMs: number | null, finishedMs: number, over: Partial<TaskRecord> = {}): TaskRecord => ({
  id: `t_${createdMs}_${finishedMs}`,
  agent: 'echo',
  type: 'echo',
  status: 'completed',
  input: null,
  result: 'ok',
  output: null,
  error: null,
  attempt: 1,
  maxAttempts: 3,
  instanceId: 'echo-abcdefgh',
  idempotencyKey: null,
  requestHash: 'h',
  createdAt: at(createdMs),
  startedAt: startedMs === null ? null : at(startedMs),
  finishedAt: at(finishedMs),
  deadline: at(60_000),
  queueSeq: 1,
  ...over,
});

describe('task throughput and latency', () => {
  it('aiflock stats: counts the last minute, its rate and latency percentiles, and forgets older tasks', () => {
    let now = 0;
    const rates = new TaskRates(() => now, 60_000);
    expect(rates.snapshot()).toEqual({ windowSeconds: 60, finished: 0, perSecond: 0, latencyMs: null });
    // 100 tasks taking 1..100 ms from creation to their result stored.
    for (let i = 1; i <= 100; i++) rates.finished(finished(0, 0, i));
    now = 30_000;
    expect(rates.snapshot()).toEqual({ windowSeconds: 60, finished: 100, perSecond: 100 / 60, latencyMs: { p50: 50, p90: 90, p99: 99 } });
    rates.finished(finished(0, 0, 5_000));
    now = 61_000;
    // The first hundred (recorded at 0) left the window; the one recorded at 30 s did not.
    expect(rates.snapshot()).toMatchObject({ finished: 1, latencyMs: { p50: 5_000, p99: 5_000 } });
  });

  it('/metrics: finished tasks by agent and status, creation → done and creation → start histograms, group-commit sizes', async () => {
    const registry = new Registry();
    const m = createTaskMetrics(registry);
    m.finished(finished(0, 2, 3));
    m.finished(finished(0, 40, 2_000));
    m.finished(finished(0, null, 70, { status: 'cancelled' }));
    m.groupCommit(37, 1.5);
    const text = await registry.metrics();
    expect(text).toContain('aiflock_tasks_finished_total{agent="echo",status="completed"} 2');
    expect(text).toContain('aiflock_tasks_finished_total{agent="echo",status="cancelled"} 1');
    expect(text).toContain('aiflock_task_latency_seconds_bucket{le="0.005",agent="echo",status="completed"} 1');
    expect(text).toContain('aiflock_task_latency_seconds_bucket{le="2.5",agent="echo",status="completed"} 2');
    expect(text).toContain('aiflock_task_latency_seconds_count{agent="echo",status="cancelled"} 1');
    // Never started (cancelled while queued): no queue-wait sample.
    expect(text).toContain('aiflock_task_queue_wait_seconds_count{agent="echo"} 2');
    expect(text).toContain('aiflock_store_group_commit_writes_bucket{le="50"} 1');
    expect(text).toContain('aiflock_store_group_commit_writes_bucket{le="20"} 0');
    expect(text).toContain('aiflock_store_group_commit_seconds_sum 0.0015');
  });
});
