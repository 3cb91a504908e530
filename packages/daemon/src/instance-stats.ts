import type { SandboxRuntime, SandboxStats, Store } from '@aiflock/core';
import type { InstanceStats } from '@aiflock/protocol';
import type { RemoteSandboxes } from './nodes/remote-sandboxes.js';

/**
 * Every instance that has not exited, with what its runtime says it uses now: the local
 * runtime's, or its joined node's agent's (one request per node). Sampled in parallel: Docker
 * takes a second per sample, so a flock of fifty still answers in about one.
 */
export function instanceStatsOf(store: Store, runtime: SandboxRuntime, remote?: { localNode: string; nodes: RemoteSandboxes }): () => Promise<InstanceStats[]> {
  return async () => {
    const live = (await store.instances.list()).filter((i) => i.status !== 'exited');
    const elsewhere = remote ? live.filter((i) => i.node !== remote.localNode) : [];
    const byNode = new Map<string, string[]>();
    for (const i of elsewhere) byNode.set(i.node, [...(byNode.get(i.node) ?? []), i.id]);
    const remoteUsage = new Map<string, SandboxStats | null>();
    await Promise.all(
      [...byNode].map(async ([node, ids]) => {
        // A node that does not answer leaves its instances unmeasured (null), not the whole list failed.
        const usage = await remote!.nodes.stats(node, ids).catch(() => new Map<string, SandboxStats | null>());
        for (const id of ids) remoteUsage.set(id, usage.get(id) ?? null);
      }),
    );
    return Promise.all(
      live.map(async (i) => ({
        id: i.id,
        agent: i.agent,
        status: i.status,
        usage: remoteUsage.has(i.id) ? remoteUsage.get(i.id)! : runtime.stats ? await runtime.stats(i.id).catch(() => null) : null,
      })),
    );
  };
}
