import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { hostPort, natsServers } from '../adapters/nats/server-list.js';
import { RuntimeSettingsSchema, runtimeFactory } from '../adapters/runtimes/registry.js';
import { InstanceCgroup } from '../adapters/runtimes/shared/cgroups.js';
import { releaseAllStorage } from '../adapters/runtimes/shared/shared-storage.js';
import type { HostRuntime, RuntimeLog } from '../adapters/runtimes/shared/host-runtime.js';

const run = promisify(execFile);
const EGRESS_PORT_DEFAULT = 3128;
const LOCAL_HOSTS = ['127.0.0.1', 'localhost', '0.0.0.0', '[::1]'];

/**
 * The name a node's runtime gives what it makes on the host (networks, cgroups, directories):
 * the node's own and a hash of the flock's, so a node never touches the control plane's
 * sandboxes, nor another flock's, even on the same machine.
 */
export function runtimeScope(flock: string, node: string): string {
  return `${node.slice(0, 19)}-${createHash('sha256').update(`${flock}/${node}`).digest('hex').slice(0, 12)}`;
}

/**
 * The bus servers in the order this host's sandboxes should dial them: those on this host
 * first (a loopback name, or one of `ownAddresses`, the host's interface addresses: the
 * control plane hands every node the same cluster list, `nats://10.0.0.1:4222,...`, and
 * each node finds its own server in it), then the rest as listed.
 */
export function ownServersFirst<T extends { host: string }>(servers: T[], ownAddresses: readonly string[]): T[] {
  const own = (x: T) => LOCAL_HOSTS.includes(x.host) || ownAddresses.includes(x.host.replace(/^\[|\]$/g, ''));
  return [...servers.filter(own), ...servers.filter((x) => !own(x))];
}

/** Every address of this host's (this network namespace's) interfaces. */
const hostAddresses = (): string[] => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));

/**
 * The node's sandbox runtime, from the same registry the control plane uses. Its sandboxes
 * reach the bus at the node's servers: a server on this host first (a cluster runs one per
 * host), then the rest of the list; relayed sandboxes (process runtime) fail over along it.
 */
export function nodeRuntime(s: { flock: string; name: string; natsUrl: string }, kind: string, log: RuntimeLog): HostRuntime {
  const scope = runtimeScope(s.flock, s.name);
  const ordered = ownServersFirst(natsServers(s.natsUrl).map(hostPort), hostAddresses());
  const root = nodeRoot(scope);
  const settings = RuntimeSettingsSchema.parse({ kind, processDir: root });
  return runtimeFactory(kind).create({
    flock: scope,
    node: s.name,
    dataDir: join(root, 'data'),
    settings,
    sharedDir: join(root, 'shared'),
    secretsDir: join('/dev/shm', `aiflock-${scope}-secrets`),
    agentBundle: join(import.meta.dirname, '..', '..', '..', 'agent', 'dist', 'bundle', 'agent.mjs'),
    busPort: ordered[0]!.port,
    busServers: ordered,
    // Joined nodes run no egress proxy (agents with egress rules are placed on the control plane's
    // node); the runtime still wants a port for its firewall, where nothing listens here.
    proxyPort: EGRESS_PORT_DEFAULT,
    // Nor is a connection ever handed to a proxy here: one that arrives is closed unread.
    proxy: { accept: (socket) => socket.destroy() },
    log,
  });
}

/**
 * Sandboxes a previous run of this node agent left (it was killed: a process runtime's
 * sandboxes do not outlive it, but nothing else ends them): every process in the scope's
 * cgroups is killed and the cgroups removed, and what their storage still has mounted under
 * the runtime's root is unmounted, before the runtime starts afresh.
 */
export async function reclaimOrphans(flock: string, node: string, log: RuntimeLog): Promise<number> {
  const scope = runtimeScope(flock, node);
  const reclaimed = await InstanceCgroup.reclaimFlock(scope);
  const root = nodeRoot(scope);
  // Volumes as an instance's removal releases them (its logs kept as plain files), then anything
  // still mounted under the root, deepest first: a workspace inside the shared tree before the tree.
  const failed = await releaseAllStorage(join(root, 'shared'));
  if (failed.length > 0) log('warn', `could not release what a previous run left mounted: ${failed.join('; ')}`);
  const mounts = (await readFile('/proc/self/mounts', 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === root || m.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
  return reclaimed.length;
}

const nodeRoot = (scope: string) => `/var/lib/aiflock-node-${scope}`;
