import type Dockerode from 'dockerode';
import { FlockError } from '@aiflock/core';
import { LABEL, bridgeInterfaceName, networkName } from './names.js';

export interface FlockNetwork {
  name: string;
  id: string;
  gatewayIp: string;
  subnet: string;
  /** Host-side bridge interface, where the host firewall hooks in. */
  bridgeInterface: string;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: unknown) => void;

/**
 * Internal (no default route, so nothing beyond the subnet) and ICC off (sandboxes cannot
 * talk to each other). The host itself stays reachable through the gateway: that is what
 * the host firewall is for.
 */
function wanted(flock: string) {
  return {
    Name: networkName(flock),
    Driver: 'bridge',
    Internal: true,
    EnableIPv6: false,
    Attachable: false,
    CheckDuplicate: true,
    Options: {
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.bridge.name': bridgeInterfaceName(flock),
    },
    Labels: { [LABEL.managed]: 'true', [LABEL.flock]: flock },
  };
}

/** Create the flock's network, or check an existing one. Idempotent. */
export async function ensureFlockNetwork(docker: Dockerode, flock: string, log: Log): Promise<FlockNetwork> {
  const want = wanted(flock);
  let info = await inspectOrNull(docker, want.Name);
  if (info) {
    const problems = mismatches(info, want);
    if (problems.length > 0) {
      const users = await usersOf(docker, info);
      if (users.length > 0) {
        throw new FlockError(
          'runtime_unavailable',
          `network ${want.Name} exists with unsafe settings (${problems.join('; ')}) and is used by ${users.length} container(s) (${users.slice(0, 5).join(', ')}); remove those containers so it can be recreated`,
          { network: want.Name, problems, containers: users },
        );
      }
      log('warn', `recreating network ${want.Name}: ${problems.join('; ')}`);
      await docker.getNetwork(info.Id).remove();
      info = null;
    }
  }
  if (!info) {
    try {
      await docker.createNetwork(want);
    } catch (err) {
      // Another daemon process created it first; fall through and verify it.
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
    info = await inspectOrNull(docker, want.Name);
    if (!info) throw new FlockError('runtime_unavailable', `network ${want.Name} vanished right after creation`);
    const problems = mismatches(info, want);
    if (problems.length > 0) throw new FlockError('runtime_unavailable', `network ${want.Name} has unsafe settings: ${problems.join('; ')}`);
  }
  const ipam = info.IPAM?.Config?.find((c) => c.Gateway && c.Subnet && !c.Subnet.includes(':'));
  if (!ipam?.Gateway || !ipam.Subnet) {
    throw new FlockError('runtime_unavailable', `network ${want.Name} has no IPv4 gateway`, { ipam: info.IPAM });
  }
  return { name: want.Name, id: info.Id, gatewayIp: ipam.Gateway, subnet: ipam.Subnet, bridgeInterface: want.Options['com.docker.network.bridge.name'] };
}

/**
 * Remove the flock's network. Docker refuses while any endpoint is attached: a container
 * someone connected by hand, or one the flock lost track of (its daemon killed mid-start).
 * Those are cut off (forced, so an endpoint whose container is gone goes too) and the removal
 * tried once more; the network is the flock's, and nothing should stay on it once the flock is
 * down. An endpoint Docker itself no longer lists cannot be cut off this way; the error then
 * says to restart the engine (see docs/operations.md).
 */
export async function removeFlockNetwork(docker: Dockerode, flock: string, log?: Log): Promise<void> {
  const name = networkName(flock);
  for (let attempt = 0; ; attempt++) {
    try {
      await docker.getNetwork(name).remove();
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      if (attempt > 0 || !/active endpoints/i.test(String((err as Error).message))) throw err;
      const info = await inspectOrNull(docker, name);
      if (!info) return;
      const endpoints = Object.entries(info.Containers ?? {});
      if (endpoints.length === 0) {
        throw new FlockError('runtime_unavailable', `network ${name} still has an endpoint Docker does not list (a stale one); restart the Docker engine, then run this again`, { network: name });
      }
      for (const [id, c] of endpoints) {
        log?.('warn', `disconnecting ${c.Name || id} from network ${name}, which flock ${flock} is removing`);
        await docker
          .getNetwork(name)
          .disconnect({ Container: id, Force: true })
          .catch((e: unknown) => log?.('warn', `could not disconnect ${c.Name || id} from ${name}: ${(e as Error).message}`));
      }
    }
  }
}

function mismatches(info: Dockerode.NetworkInspectInfo, want: ReturnType<typeof wanted>): string[] {
  const out: string[] = [];
  if (info.Driver !== 'bridge') out.push(`driver is ${info.Driver}, expected bridge`);
  if (!info.Internal) out.push('not internal');
  if (info.EnableIPv6) out.push('IPv6 enabled');
  for (const [k, v] of Object.entries(want.Options)) {
    if (info.Options?.[k] !== v) out.push(`option ${k} is ${JSON.stringify(info.Options?.[k])}, expected ${JSON.stringify(v)}`);
  }
  return out;
}

/** Containers attached to the network, stopped ones included (they would fail to start). */
async function usersOf(docker: Dockerode, info: Dockerode.NetworkInspectInfo): Promise<string[]> {
  const attached = Object.values(info.Containers ?? {}).map((c) => c.Name);
  const listed = await docker.listContainers({ all: true, filters: { network: [info.Id] } });
  return [...new Set([...attached, ...listed.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ''))])];
}

async function inspectOrNull(docker: Dockerode, name: string): Promise<Dockerode.NetworkInspectInfo | null> {
  try {
    const info = (await docker.getNetwork(name).inspect()) as Dockerode.NetworkInspectInfo;
    // Docker matches network names by prefix/id too; insist on the exact name.
    return info.Name === name ? info : null;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
}
