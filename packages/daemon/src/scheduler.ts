import { Autoscaler, ToolRunLimits, type AuditLog, type Bus, type Clock, type ComputeService, type LogSweeper, type Store, type TaskSweeper } from '@aiflock/core';
import type { Config } from './config.js';
import type { logFn } from './logger.js';

/**
 * Work starts flowing: every deployed agent's queue exists, the bus consumes, and the
 * periodic loops run (reconcile, autoscale, sweep, tool-run limits, log retention). `stop` ends the loops.
 */
export async function startScheduler(
  config: Config,
  deps: { bus: Bus; store: Store; audit: AuditLog; clock: Clock; compute: ComputeService; sweeper: TaskSweeper; logSweeper: LogSweeper; poke: () => void; log: ReturnType<typeof logFn> },
): Promise<{ stop(): void }> {
  const { bus, store, log } = deps;
  for (const d of await store.deployments.list()) {
    await bus.ensureQueue(d.name, { ackWaitMs: config.taskAckWaitMs, maxDeliver: d.manifest.maxAttempts });
  }
  await bus.start();
  // The scheduler's side of the compute tiers: each agent's tasks in flight are capped at its tier's tool runs.
  const toolRunScope = config.economy.toolRunLimits;
  const toolRuns =
    bus.limitQueue && toolRunScope !== 'off'
      ? new ToolRunLimits({
          agents: async () => (await store.deployments.list()).map((d) => ({ name: d.name, limited: toolRunScope === 'all' || d.manifest.village !== undefined })),
          entitlements: deps.compute,
          limitQueue: bus.limitQueue.bind(bus),
          log,
        })
      : null;
  const syncToolRuns = () => void toolRuns?.sync().catch((err) => log('error', `tool-run limits: ${String(err)}`));
  syncToolRuns();

  const { intervalMs, scaleDownWindowMs, scaleUpCooldownMs } = config.autoscale;
  const autoscaler = new Autoscaler({
    store,
    queueDepth: (agent) => bus.queueDepth(agent),
    audit: deps.audit,
    clock: deps.clock,
    timing: { downWindowMs: scaleDownWindowMs, upCooldownMs: scaleUpCooldownMs },
    poke: deps.poke,
    log,
  });
  let scaling: Promise<void> | null = null;
  const autoscale = () => {
    scaling ??= autoscaler
      .pass()
      .catch((err: unknown) => log('error', `autoscale failed: ${String(err)}`))
      .finally(() => (scaling = null));
  };

  const timers = [
    setInterval(deps.poke, config.reconcileIntervalMs),
    setInterval(autoscale, intervalMs),
    setInterval(() => void deps.sweeper.sweep().catch((err) => log('error', `sweep failed: ${String(err)}`)), 1_000),
    setInterval(syncToolRuns, 1_000),
    setInterval(() => void deps.logSweeper.sweep().catch((err) => log('error', `log sweep failed: ${String(err)}`)), config.logs.sweepIntervalMs),
  ];
  return {
    stop() {
      for (const t of timers) clearInterval(t);
    },
  };
}
