import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { createMetrics, meteredBusHandlers, type Metrics } from '../src/metrics.js';

/** The bus counters and the task run-time histogram the daemon wraps its bus handlers with. */
let dir: string;
let store: SqlStore;
let metrics: Metrics;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-busmetrics-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  metrics = createMetrics(store);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const text = async (name: string) => metrics.registry.getSingleMetricAsString(name);
const known = new Set(['echo']);
const agentOf = (id: string) => (known.has(id.replace(/-[^-]+$/, '')) ? id.replace(/-[^-]+$/, '') : 'unknown');

describe('metered bus handlers', () => {
  it('count each message handled by kind and observe reported run times by agent and outcome', async () => {
    const m = meteredBusHandlers(metrics, agentOf);
    const handled: string[] = [];
    const result = m.result(async (msg) => void handled.push(msg.instanceId));
    await result({ instanceId: 'echo-abcd1234', payload: { taskId: 't', status: 'completed', durationMs: 250 } });
    await result({ instanceId: 'echo-abcd1234', payload: { taskId: 't2', status: 'failed', durationMs: 4000 } });
    // A forged or foreign instance id never becomes a label of its own.
    await result({ instanceId: 'whoever-xyz', payload: { taskId: 't3', status: 'completed', durationMs: 1 } });
    // Not a result a task could end with: counted as a message, not timed.
    await result({ instanceId: 'echo-abcd1234', payload: { taskId: 't4', status: 'queued', durationMs: 5 } });
    await result({ instanceId: 'echo-abcd1234', payload: 'garbage' });
    await m.event(async () => undefined)({ instanceId: 'echo-abcd1234', payload: {} });
    await m.heartbeat(async () => undefined)({ instanceId: 'echo-abcd1234', payload: {} });
    await m.rpc(async () => undefined)({ instanceId: 'echo-abcd1234', service: 'llm', op: 'chat', payload: {}, reply: '', respond: () => undefined });
    await m.deadLetter(async () => undefined)({ taskId: 't5', deliveries: 3 });
    expect(handled).toHaveLength(5);

    const bus = await text('aiflock_bus_messages_total');
    expect(bus).toContain('aiflock_bus_messages_total{kind="result"} 5');
    for (const kind of ['event', 'heartbeat', 'rpc', 'dead_letter']) expect(bus).toContain(`aiflock_bus_messages_total{kind="${kind}"} 1`);
    expect(await text('aiflock_heartbeats_total')).toContain('aiflock_heartbeats_total 1');
    const durations = await text('aiflock_task_duration_seconds');
    expect(durations).toContain('aiflock_task_duration_seconds_count{agent="echo",status="completed"} 1');
    expect(durations).toContain('aiflock_task_duration_seconds_sum{agent="echo",status="completed"} 0.25');
    expect(durations).toContain('aiflock_task_duration_seconds_count{agent="echo",status="failed"} 1');
    expect(durations).toContain('aiflock_task_duration_seconds_count{agent="unknown",status="completed"} 1');
    expect(durations).not.toContain('status="queued"');
  });

  it('does not count a message its handler failed to store (it will be redelivered)', async () => {
    const m = meteredBusHandlers(metrics, agentOf);
    const before = await text('aiflock_bus_messages_total');
    const failing = m.result(async () => {
      throw new Error('store is down');
    });
    await expect(failing({ instanceId: 'echo-abcd1234', payload: { taskId: 't', status: 'completed', durationMs: 1 } })).rejects.toThrow('store is down');
    expect(await text('aiflock_bus_messages_total')).toBe(before);
  });
});
