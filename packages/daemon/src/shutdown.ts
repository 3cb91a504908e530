import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '@aiflock/core';
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
      running.scheduler.stop();
      await running.reconciler.stop();
      await running.warm.stop();
      running.unwatch();
      await app.close().catch(() => undefined);
      await world.stop().catch((err: unknown) => log('warn', `world stop: ${String(err)}`));
      await egressProxy?.close().catch(() => undefined);
      if (stopFlock) {
        await credentials.retain(new Set()).catch((err: unknown) => log('warn', `revoking credentials: ${String(err)}`));
        for (const s of await sandboxes.list()) await sandboxes.remove(s.instanceId).catch((err: unknown) => log('warn', `removing ${s.instanceId}: ${String(err)}`));
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
      resolveDone();
    })();
    return stopping;
  }
  return { stop, done };
}
