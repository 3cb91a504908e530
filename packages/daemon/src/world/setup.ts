import type { AuthorNames, ComputeService, RpcRouter, Store, TierSpec } from '@aiflock/core';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { WorldApi } from './index.js';
import { DEFAULT_MAP, loadMap } from './load-map.js';
import { Perceiver } from './perception.js';
import { registerWorldOps } from './rpc-ops.js';
import { VillagerSync } from './villager-sync.js';
import { WorldHost } from './world-host.js';

/**
 * The village in the daemon: loads the map, resumes the world from the store, registers the
 * agents' bus ops and keeps villagers in step with deployments. `start` begins ticking.
 */
export async function setupWorld(
  config: Config['world'],
  deps: { store: Store; compute: ComputeService; names: AuthorNames; tiers: readonly TierSpec[]; rpc: RpcRouter; metrics: Metrics['world']; log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void },
) {
  const loaded = await loadMap(config.map ?? DEFAULT_MAP);
  const host = await WorldHost.open({
    loaded,
    engine: { tickMs: config.tickMs, pathBudget: config.pathBudget, hearingRadius: config.hearingRadius, sightRadius: config.sightRadius, seed: config.seed },
    store: deps.store.world,
    snapshotEveryTicks: config.snapshotEveryTicks,
    metrics: deps.metrics,
    log: deps.log,
  });
  // After a crash the world resumes at its last logged input, behind ticks its villagers may
  // already have perceived. Every line heard before the crash is at or before that tick, and
  // every line heard from now on is after it, so that is where "heard since" must start.
  await deps.store.perception.rewindTicks(host.engine.tick);
  const perceiver = new Perceiver({ host, compute: deps.compute, names: deps.names, cursors: deps.store.perception, tiers: deps.tiers });
  registerWorldOps(deps.rpc, host, perceiver);
  const sync = new VillagerSync({ store: deps.store, host, log: deps.log });
  const api: WorldApi = { host, perceiver, files: loaded.files, wsBufferLimitBytes: config.wsBufferLimitBytes, watchers: new Set() };
  deps.metrics.sources.villagers = () => host.engine.size;
  deps.metrics.sources.watchers = () => api.watchers.size;
  let timer: NodeJS.Timeout | null = null;
  const resync = () => void sync.sync().catch((err: unknown) => deps.log('error', `village sync failed: ${String(err)}`));
  return {
    api,
    sync,
    /** Ticking and matching villagers to deployments, from now on. */
    start() {
      host.start();
      resync();
      timer ??= setInterval(resync, config.syncMs);
    },
    /** Look at deployments now (after a deploy, remove or kill-switch action). */
    resync,
    async stop() {
      if (timer) clearInterval(timer);
      await host.stop();
    },
  };
}
