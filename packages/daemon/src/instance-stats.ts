import type { SandboxRuntime, Store } from '@aiflock/core';
import type { InstanceStats } from '@aiflock/protocol';

/**
 * Every instance that has not exited, with what its runtime says it uses now. Sampled in
 * parallel: Docker takes a second per sample, so a flock of fifty still answers in about one.
 */
export function instanceStatsOf(store: Store, runtime: SandboxRuntime): () => Promise<InstanceStats[]> {
  return async () => {
    const live = (await store.instances.list()).filter((i) => i.status !== 'exited');
    return Promise.all(
      live.map(async (i) => ({
        id: i.id,
        agent: i.agent,
        status: i.status,
        usage: runtime.stats ? await runtime.stats(i.id).catch(() => null) : null,
      })),
    );
  };
}
