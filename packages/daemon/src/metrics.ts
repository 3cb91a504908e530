import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditLog, Bus, DeadLetterHandler, InboundHandler, RpcHandler, Store } from '@aiflock/core';
import { TERMINAL_STATUSES } from '@aiflock/protocol';
import { createLlmMetrics } from './llm/metrics.js';
import { healthMetrics } from './health-metrics.js';
import { createTaskMetrics } from './task-metrics.js';

/** Prometheus metrics of the control plane. Gauges read the store when scraped. */
export function createMetrics(store: Store, bus?: Pick<Bus, 'queueDepth' | 'queueStats'> & Partial<Pick<Bus, 'connectedSince'>>, audit: () => AuditLog | null = () => null) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aiflock_daemon_' });
  healthMetrics(registry, { bus, audit });
  const httpDuration = new Histogram({
    name: 'aiflock_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const heartbeats = new Counter({ name: 'aiflock_heartbeats_total', help: 'Heartbeats received from instances', registers: [registry] });
  const oomKills = new Counter({
    name: 'aiflock_instance_oom_kills_total',
    help: 'Instances killed for exceeding their memory limit',
    labelNames: ['agent'],
    registers: [registry],
  });
  const busMessages = new Counter({
    name: 'aiflock_bus_messages_total',
    help: 'Messages from instances the control plane handled, by kind (result, event, heartbeat, rpc, dead_letter)',
    labelNames: ['kind'],
    registers: [registry],
  });
  const taskDuration = new Histogram({
    name: 'aiflock_task_duration_seconds',
    help: 'How long instances ran tasks, as they report it, by agent and outcome',
    labelNames: ['agent', 'status'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
    registers: [registry],
  });
  const instanceRemovals = new Counter({
    name: 'aiflock_instance_removals_total',
    help: 'Instances the reconciler removed, by agent and reason; every reason but "scaled down" and "manifest changed" is a restart (a replacement)',
    labelNames: ['agent', 'reason'],
    registers: [registry],
  });
  const eventsDropped = new Counter({
    name: 'aiflock_instance_events_dropped_total',
    help: 'Events from instances dropped because the instance sent more than its rate limit (events.perSecond), by agent',
    labelNames: ['agent'],
    registers: [registry],
  });
  const warmClaims = new Counter({
    name: 'aiflock_warm_claims_total',
    help: 'New instances of agents with scaling.warm: outcome "hit" took a warm sandbox, "miss" started cold (none was ready)',
    labelNames: ['agent', 'outcome'],
    registers: [registry],
  });
  let warmSizes: () => Map<string, number> = () => new Map();
  new Gauge({
    name: 'aiflock_warm_sandboxes',
    help: 'Started sandboxes waiting, unassigned, for new instances (manifest scaling.warm), by image',
    labelNames: ['image'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [image, n] of warmSizes()) this.set({ image }, n);
    },
  });
  /** Where the warm pool's sizes come from, once the pool exists. */
  const watchWarmPool = (sizes: () => Map<string, number>) => {
    warmSizes = sizes;
  };
  const egress = new Counter({
    name: 'aiflock_egress_connections_total',
    help: 'Connections through the egress proxy, allowed or denied',
    labelNames: ['agent', 'allowed'],
    registers: [registry],
  });
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
  new Gauge({
    name: 'aiflock_economy_balance_cents',
    help: 'aiDollar cents held by kind of ledger account (mint is minus everything issued; the kinds sum to zero)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const kind of ['mint', 'fees', 'escrow', 'agents', 'humans']) this.set({ kind }, 0);
      for (const [account, cents] of await store.ledger.balances()) {
        const kind = account === 'system:mint' ? 'mint' : account.startsWith('agent:') ? 'agents' : account.startsWith('human:') ? 'humans' : account;
        this.inc({ kind }, cents);
      }
    },
  });
  new Gauge({
    name: 'aiflock_instances_oom_killed',
    help: 'Remembered instances whose last exit was an out-of-memory kill, by agent',
    labelNames: ['agent'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const i of await store.instances.list()) if (i.oomKilled) this.inc({ agent: i.agent });
    },
  });
  if (bus) {
    const queues = async () => {
      const out: { agent: string; depth: number; redelivered: number | undefined }[] = [];
      for (const d of await store.deployments.list()) {
        if (d.state !== 'active') continue;
        // A bus hiccup must not fail the whole scrape; the agent is just left out this time.
        const stats = bus.queueStats ? await bus.queueStats(d.name).catch(() => undefined) : undefined;
        const depth = stats ? stats.pending + stats.inFlight : await bus.queueDepth(d.name).catch(() => undefined);
        if (depth !== undefined) out.push({ agent: d.name, depth, redelivered: stats?.redelivered });
      }
      return out;
    };
    new Gauge({
      name: 'aiflock_queue_depth',
      help: "Tasks waiting or in flight in each active agent's work queue on the bus",
      labelNames: ['agent'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await queues()) this.set({ agent: q.agent }, q.depth);
      },
    });
    new Gauge({
      name: 'aiflock_queue_redelivered',
      help: "Tasks in each active agent's work queue that the bus delivered more than once and are not yet acknowledged",
      labelNames: ['agent'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await queues()) if (q.redelivered !== undefined) this.set({ agent: q.agent }, q.redelivered);
      },
    });
  }
  const refusals = new Counter({
    name: 'aiflock_http_refusals_total',
    help: 'Requests refused for auth, scope, CSRF or rate limit, by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  const world = {
    tickSeconds: new Histogram({
      name: 'aiflock_world_tick_seconds',
      help: 'Time to apply one world tick (inputs, path planning, walking)',
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    }),
    inputs: new Counter({ name: 'aiflock_world_inputs_total', help: 'World inputs by kind and outcome (applied or refused)', labelNames: ['kind', 'outcome'], registers: [registry] }),
    /** Set by the daemon once the world runs: villagers now, and WebSocket watchers now. */
    sources: { villagers: () => 0, watchers: () => 0 },
  };
  new Gauge({ name: 'aiflock_world_villagers', help: 'Villagers in the village', registers: [registry], collect() { this.set(world.sources.villagers()); } });
  new Gauge({ name: 'aiflock_world_ws_clients', help: 'WebSocket clients watching the world', registers: [registry], collect() { this.set(world.sources.watchers()); } });
  return { registry, httpDuration, heartbeats, refusals, oomKills, egress, busMessages, taskDuration, instanceRemovals, eventsDropped, warmClaims, watchWarmPool, llm: createLlmMetrics(registry), tasks: createTaskMetrics(registry), world };
}

/**
 * Wraps the bus handlers so each message handled is counted, and each result's run time
 * observed. Counted once handled: a message that fails and is redelivered counts once it is
 * stored. `agentOf` names the instance's agent (instance ids are `<agent>-<suffix>`).
 */
export function meteredBusHandlers(m: Pick<Metrics, 'busMessages' | 'taskDuration' | 'heartbeats'>, agentOf: (instanceId: string) => string) {
  const statuses = new Set<string>(TERMINAL_STATUSES);
  return {
    result: (h: InboundHandler): InboundHandler => async (msg) => {
      await h(msg);
      m.busMessages.inc({ kind: 'result' });
      const r = msg.payload as { status?: unknown; durationMs?: unknown } | null;
      if (r && typeof r.status === 'string' && statuses.has(r.status) && typeof r.durationMs === 'number' && Number.isFinite(r.durationMs) && r.durationMs >= 0) {
        m.taskDuration.observe({ agent: agentOf(msg.instanceId), status: r.status }, r.durationMs / 1000);
      }
    },
    event: (h: InboundHandler): InboundHandler => async (msg) => {
      await h(msg);
      m.busMessages.inc({ kind: 'event' });
    },
    heartbeat: (h: InboundHandler): InboundHandler => async (msg) => {
      m.heartbeats.inc();
      m.busMessages.inc({ kind: 'heartbeat' });
      await h(msg);
    },
    rpc: (h: RpcHandler): RpcHandler => (req) => {
      m.busMessages.inc({ kind: 'rpc' });
      return h(req);
    },
    deadLetter: (h: DeadLetterHandler): DeadLetterHandler => async (d) => {
      await h(d);
      m.busMessages.inc({ kind: 'dead_letter' });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
