import type { NodeService, Store } from '@aiflock/core';
import type { SystemStatus, TaskThroughput } from '@aiflock/protocol';
import type { BusSetup } from './bus-setup.js';
import type { ContextPlane } from './context-plane.js';
import type { ApiContext } from './http/context.js';
import type { LlmSetup } from './llm/setup.js';
import type { RuntimeSetup } from './runtime-setup.js';
import { VERSION } from './version.js';

/** What /v1/ready and /v1/status report. */
export function daemonChecks(deps: {
  startedAt: number;
  dataDir: string;
  /** Known once the API listens; status is only asked for after that. */
  apiUrl: () => string;
  store: Store;
  bus: BusSetup;
  runtimes: RuntimeSetup;
  plane: Pick<ContextPlane, 'check'>;
  llm: LlmSetup;
  /** Tasks finished in the last minute. */
  throughput: () => TaskThroughput;
  nodes?: Pick<NodeService, 'list'>;
}): Pick<ApiContext, 'readiness' | 'status'> {
  const { store, llm } = deps;
  const { bus, credentials, supervisor, busUrl } = deps.bus;
  const { runtime, operator } = deps.runtimes;
  const readiness = async () => ({
    store: await store.ping(),
    bus: await bus.ping(),
    runtime: await runtime.ping(),
    isolation: { ok: runtime.isolation().enforced, detail: runtime.isolation().detail },
    // With nats.auth: none (a deliberate development setting) the daemon still serves; the
    // status below says plainly that the bus is open.
    ...(credentials.enforced ? { busAuth: { ok: true, detail: credentials.detail } } : {}),
    // Only when configured: a flock without operator sandboxes is not "not ready" for lacking them.
    ...(operator.router.hasOperatorEngine ? { operatorSandboxes: await operator.router.operatorHealth() } : {}),
  });
  return {
    readiness,
    status: async (): Promise<SystemStatus> => {
      const agents = await store.deployments.list();
      const instances = await store.instances.list();
      return {
        version: VERSION,
        pid: process.pid,
        uptimeMs: Date.now() - deps.startedAt,
        apiUrl: deps.apiUrl(),
        dataDir: deps.dataDir,
        checks: {
          ...(await readiness()),
          nats: { ok: true, detail: supervisor ? `spawned by the daemon at ${busUrl}` : `external at ${busUrl}` },
          busAuth: { ok: credentials.enforced, detail: credentials.detail },
          context: await deps.plane.check(),
        },
        agents: {
          deployed: agents.length,
          instancesRunning: instances.filter((i) => i.status === 'running').length,
          instancesDesired: agents.filter((a) => a.state === 'active').reduce((n, a) => n + a.replicas, 0),
        },
        tasks: await store.tasks.countByStatus(),
        throughput: deps.throughput(),
        ...(deps.nodes ? { nodes: (await deps.nodes.list()).map((n) => ({ name: n.record.name, status: n.status, cordoned: n.record.cordoned, draining: n.record.draining, instances: n.instances.length })) } : {}),
        llm: { available: llm.gateway !== null, detail: llm.detail, models: llm.gateway?.registry.names() ?? [], toolModels: toolModels(llm), breakers: llm.gateway?.breakerStates() ?? {}, pins: llm.models.lastPins() },
      };
    },
  };
}

/** Registry names whose route can call tools (as the gateway knows it: configured capabilities; detected Ollama yes, embedded no). */
function toolModels(llm: LlmSetup): string[] {
  const registry = llm.gateway?.registry;
  return registry ? registry.names().filter((n) => registry.get(n)?.capabilities.includes('tools')) : [];
}
