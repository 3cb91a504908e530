import { rm, rmdir } from 'node:fs/promises';
import { reclaimOrphans, runtimeScope } from '../packages/daemon/src/node-agent/node-runtime.js';

/**
 * What a joined node's runtime made on this machine, removed after a test: the "hosts" of a
 * test are network namespaces, sharing the machine's file system and cgroups, so a node's
 * sandbox directories, secrets and cgroups outlive its namespace.
 */
export async function removeNodeLeftovers(flock: string, node: string): Promise<void> {
  const scope = runtimeScope(flock, node);
  await reclaimOrphans(flock, node);
  await rm(`/var/lib/aiflock-node-${scope}`, { recursive: true, force: true });
  await rm(`/dev/shm/aiflock-${scope}-secrets`, { recursive: true, force: true });
  await rmdir(`/sys/fs/cgroup/aiflock-${scope}`).catch(() => undefined);
}
