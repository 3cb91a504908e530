import { createHash } from 'node:crypto';
import { readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostPort, natsServers } from '../adapters/nats/server-list.js';
import { RuntimeSettingsSchema, runtimeFactory } from '../adapters/runtimes/registry.js';
import type { HostRuntime, RuntimeLog } from '../adapters/runtimes/shared/host-runtime.js';

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
 * The node's sandbox runtime, from the same registry the control plane uses. Its sandboxes
 * reach the bus at the node's servers: a server on this host first (a cluster runs one per
 * host), then the rest of the list; relayed sandboxes (process runtime) fail over along it.
 */
export function nodeRuntime(s: { flock: string; name: string; natsUrl: string }, kind: string, log: RuntimeLog): HostRuntime {
  const scope = runtimeScope(s.flock, s.name);
  const servers = natsServers(s.natsUrl).map(hostPort);
  const ordered = [...servers.filter((x) => LOCAL_HOSTS.includes(x.host)), ...servers.filter((x) => !LOCAL_HOSTS.includes(x.host))];
  const root = `/var/lib/aiflock-node-${scope}`;
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
    // Joined nodes have no egress proxy: agents with egress rules are placed on the control plane's node.
    proxyPort: 0,
    log,
  });
}

/**
 * Sandboxes a previous run of this node agent left (it was killed: a process runtime's
 * sandboxes do not outlive it, but nothing else ends them): every process in the scope's
 * cgroups is killed and the cgroups removed, before the runtime starts afresh.
 */
export async function reclaimOrphans(flock: string, node: string): Promise<number> {
  const parent = join('/sys/fs/cgroup', `aiflock-${runtimeScope(flock, node)}`);
  const children = await readdir(parent, { withFileTypes: true }).catch(() => []);
  let killed = 0;
  for (const c of children.filter((d) => d.isDirectory())) {
    const dir = join(parent, c.name);
    await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
    for (let i = 0; i < 50 && (await rmdir(dir).then(() => false, () => true)); i++) await new Promise((r) => setTimeout(r, 100));
    killed++;
  }
  return killed;
}
