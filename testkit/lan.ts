import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

/**
 * Several "hosts" on one switched network, as machines in a rack are: a network namespace per
 * host, and one more holding only the switch (a bridge) that every host's veth and the test
 * machine's own veth plug into. Hosts reach one another and the test machine directly on that
 * segment; the switch forwards in its own namespace, whose firewall is empty, so nothing of
 * the machine's own forwarding rules (Docker's FORWARD DROP, which bridged traffic meets
 * through br_netfilter) is touched or needed.
 *
 * Addresses are a random /27 of 198.18.0.0/16 (RFC 2544 benchmarking, never routed on the
 * internet): the test machine .1, the hosts .2, .3, ... Every name is random; `close()` kills
 * what still runs in the hosts and removes the namespaces (with them every veth and the bridge).
 * Needs root and `ip` (iproute2).
 */
export interface LanHost {
  /** The namespace's name: `/run/netns/<ns>`. */
  readonly ns: string;
  /** Its address on the segment. */
  readonly address: string;
}

export interface Lan {
  /** The test machine's address on the segment (where hosts reach its services). */
  readonly hostAddress: string;
  readonly hosts: readonly LanHost[];
  /** Every process whose network namespace is `host`'s (`ip netns pids`). */
  pids(host: LanHost): number[];
  close(): Promise<void>;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

const pidsIn = (ns: string): number[] =>
  spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map(Number);

export async function lan(count: number): Promise<Lan> {
  if (count < 1 || count > 29) throw new Error(`a /27 holds 1 to 29 hosts, not ${count}`);
  const id = randomBytes(3).toString('hex');
  const sw = `aifl-sw${id}`;
  // A /27 at a random place in 198.18.0.0/16 (198.19/16 is testkit/netns.ts's for `extra`).
  const base = randomInt(0, 2 ** 11) * 32;
  const addr = (n: number) => `198.18.${((base + n) >> 8) & 255}.${(base + n) & 255}`;
  const hosts: LanHost[] = Array.from({ length: count }, (_, i) => ({ ns: `aifl-h${id}${i}`, address: addr(i + 2) }));
  const made: string[] = [];
  const hostIf = `afl${id}m`;
  try {
    ip(['netns', 'add', sw]);
    made.push(sw);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    // The test machine's own port on the switch.
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'up0', 'netns', sw]);
    ip(['-n', sw, 'link', 'set', 'up0', 'master', 'br0']);
    ip(['-n', sw, 'link', 'set', 'up0', 'up']);
    ip(['addr', 'add', `${addr(1)}/27`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    hosts.forEach((h, i) => {
      ip(['netns', 'add', h.ns]);
      made.push(h.ns);
      ip(['-n', h.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', sw]);
      ip(['-n', sw, 'link', 'set', `p${i}`, 'master', 'br0']);
      ip(['-n', sw, 'link', 'set', `p${i}`, 'up']);
      ip(['-n', h.ns, 'addr', 'add', `${h.address}/27`, 'dev', 'eth0']);
      ip(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', h.ns, 'route', 'add', 'default', 'via', addr(1)]);
    });
  } catch (err) {
    spawnSync('ip', ['link', 'del', hostIf]);
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
    throw err;
  }
  return {
    hostAddress: addr(1),
    hosts,
    pids: (h) => pidsIn(h.ns),
    async close() {
      for (const h of hosts) {
        for (const pid of pidsIn(h.ns)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
      }
      spawnSync('ip', ['link', 'del', hostIf]);
      for (const ns of [...hosts.map((h) => h.ns), sw]) spawnSync('ip', ['netns', 'del', ns]);
    },
  };
}
