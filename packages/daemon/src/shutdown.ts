import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxRuntime, Store } from '@aiflock/core';
import { instanceAgent } from '@aiflock/protocol';
import type { FastifyInstance } from 'fastify';
import type { EgressProxy } from './adapters/egress-proxy/egress-proxy.js';
import { releaseAllStorage } from './adapters/runtimes/shared/shared-storage.js';
import type { BusSetup } from './bus-setup.js';
import { daemonInfoFile } from './daemon-info.js';
import type { LlmSetup } from './llm/setup.js';
import type { Logger, logFn } from './logger.js';
import type { RuntimeSetup } from './runtime-setup.js';
import type { TracingHandle } from './telemetry/otel-sdk.js';

/** Everything the daemon stops, in the order they were started or the order they must go. */
export interface Running {
  scheduler: { stop(): void };
  /** The reconciler: stopping waits for a pass that may be starting a sandbox. */
  reconciler: { stop(): Promise<void> };
  /** Warm sandboxes: stopping waits for a refill that may be starting one. */
  warm: { stop(): Promise<void> };
  unwatch: () => void;
  app: FastifyInstance;
  world: { stop(): Promise<void> };
  egressProxy: EgressProxy | null;
  bus: BusSetup;
  llm: LlmSetup;
  usage: { close(): Promise<void> };
  /** The context plane: its embedder may run a model in a worker thread. */
  plane: { close(): Promise<void> };
  runtimes: RuntimeSetup;
  store: Store;
  tracing: TracingHandle | null;
}

export interface Shutdown {
  /** Stops once, whoever asks first; later calls share that stop. */
  stop(opts?: { stopFlock?: boolean }): Promise<void>;
  /** Resolves when the daemon has stopped. */
  done: Promise<void>;
}

/**
 * The ordered stop: first nothing new comes in (loops, API, world, egress), then the flock's
 * instances when asked, then the bus and what listens to it, and the store last. Without
 * `stopFlock`, sandboxes and the spawned nats-server keep running for the next daemon.
 */
export function shutdownSequence(running: Running, deps: { dataDir: string; logger: Logger; log: ReturnType<typeof logFn> }): Shutdown {
  const { app, world, egressProxy, llm, usage, store, tracing } = running;
  const { bus, credentials, supervisor, busAuth } = running.bus;
  const { runtime, operator } = running.runtimes;
  const sandboxes = operator.router;
  const { logger, log } = deps;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;

  function stop({ stopFlock = false }: { stopFlock?: boolean } = {}): Promise<void> {
    stopping ??= (async () => {
      logger.info({ stopFlock }, 'aiflock daemon stopping');
      const stopBegan = Date.now();
      running.scheduler.stop();
      await running.reconciler.stop();
      await running.warm.stop();
      running.unwatch();
      await app.close().catch(() => undefined);
      await world.stop().catch((err: unknown) => log('warn', `world stop: ${String(err)}`));
      await egressProxy?.close().catch(() => undefined);
      if (stopFlock) {
        await credentials.retain(new Set()).catch((err: unknown) => log('warn', `revoking credentials: ${String(err)}`));
        const began = Date.now();
        const removed = await removeAll(sandboxes, log);
        log('info', `removed ${removed} sandboxes in ${Date.now() - began} ms`);
        for (const i of await store.instances.list()) await store.instances.remove(i.id);
        for (const f of await releaseAllStorage(join(deps.dataDir, 'shared'))) log('warn', `releasing a volume: ${f}`);
      }
      await busAuth?.credentials.stop();
      await bus.close().catch(() => undefined);
      await llm.close();
      await usage.close();
      await running.plane.close().catch((err: unknown) => log('warn', `context embedder stop: ${String(err)}`));
      if (supervisor) {
        if (stopFlock) await supervisor.stop();
        else supervisor.detach();
      }
      if (stopFlock) await operator.router.disposeOperator().catch((err: unknown) => log('warn', `operator sandbox cleanup: ${String(err)}`));
      if (stopFlock) await runtime.dispose().catch((err: unknown) => log('warn', `network cleanup: ${String(err)}`));
      await store.close();
      await tracing?.shutdown().catch((err: unknown) => log('warn', `exporting the last spans: ${String(err)}`));
      await rm(daemonInfoFile(deps.dataDir), { force: true });
      logger.info({ stopFlock, ms: Date.now() - stopBegan }, 'aiflock daemon stopped');
      resolveDone();
    })();
    return stopping;
  }
  return { stop, done };
}

/** Agents whose sandboxes are removed at the same time when the flock stops. */
const REMOVAL_LANES = 8;

/**
 * Every sandbox of the flock, several agents at a time: one after another, a flock of fifty
 * instances took most of a minute to stop. An agent's own instances still go one by one, as
 * the last one of an agent releases the agent's workspace volume.
 */
async function removeAll(sandboxes: Pick<SandboxRuntime, 'list' | 'remove'>, log: ReturnType<typeof logFn>): Promise<number> {
  const byAgent = new Map<string, string[]>();
  for (const s of await sandboxes.list()) {
    const agent = instanceAgent(s.instanceId);
    byAgent.set(agent, [...(byAgent.get(agent) ?? []), s.instanceId]);
  }
  const queue = [...byAgent.values()];
  const lane = async () => {
    for (let ids = queue.shift(); ids; ids = queue.shift()) {
      for (const id of ids) await sandboxes.remove(id).catch((err: unknown) => log('warn', `removing ${id}: ${String(err)}`));
    }
  };
  await Promise.all(Array.from({ length: Math.min(REMOVAL_LANES, queue.length) }, lane));
  return [...byAgent.values()].reduce((n, ids) => n + ids.length, 0);
}
