import { rm } from 'node:fs/promises';
import { reclaimOrphans, runtimeScope } from '../packages/daemon/src/node-agent/node-runtime.js';

/**
 * What a joined node's runtime made on this machine, removed after a test: the "hosts" of a
 * test are network namespaces, sharing the machine's file system and cgroups, so a node's
 * sandbox directories, secrets and cgroups outlive its namespace.
 */
export async function removeNodeLeftovers(flock: string, node: string): Promise<void> {
  const scope = runtimeScope(flock, node);
  // Its cgroups (either version) and mounts; what could not be released is said on stderr.
  await reclaimOrphans(flock, node, (level, msg) => level === 'warn' && console.error(`leftovers of node ${node}: ${msg}`));
  await rm(`/var/lib/aiflock-node-${scope}`, { recursive: true, force: true });
  await rm(`/dev/shm/aiflock-${scope}-secrets`, { recursive: true, force: true });
}
