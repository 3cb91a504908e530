import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '@aiflock/core';

/** Prometheus metrics of the control plane. Gauges read the store when scraped. */
export function createMetrics(store: Store) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aiflock_daemon_' });
  const httpDuration = new Histogram({
    name: 'aiflock_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const heartbeats = new Counter({ name: 'aiflock_heartbeats_total', help: 'Heartbeats received from instances', registers: [registry] });
  new Gauge({
    name: 'aiflock_tasks',
    help: 'Tasks by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [status, n] of Object.entries(await store.tasks.countByStatus())) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'aiflock_instances',
    help: 'Agent instances by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const i of await store.instances.list()) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'aiflock_agents',
    help: 'Deployed agents by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const d of await store.deployments.list()) this.inc({ state: d.state });
    },
  });
  new Gauge({
    name: 'aiflock_context_chunks',
    help: 'Indexed chunks per context collection',
    labelNames: ['collection'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await store.context.collections.list()) this.set({ collection: c.name }, await store.context.chunks.count(c.name));
    },
  });
  return { registry, httpDuration, heartbeats };
}

export type Metrics = ReturnType<typeof createMetrics>;
