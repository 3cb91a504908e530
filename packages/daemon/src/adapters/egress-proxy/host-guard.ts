import { networkInterfaces } from 'node:os';
import { parseIpv4 } from '@aiflock/core';

/**
 * Why the egress proxy must never connect to an address, whatever the agent's rules say: the
 * proxy runs on the host, so "loopback" there is the host's own daemon API, bus monitoring
 * and every other local service. Refused: anything that is not a plain IPv4 address (the
 * proxy only ever connects to vetted IPv4), the unspecified and loopback ranges, link-local
 * (cloud metadata), every address of every interface of this host, and every container
 * bridge's subnet (the flock's own sandboxes and other engines' containers). The check runs
 * on the resolved address, at decision time and again right before the connection is made,
 * so no name, numeric spelling (`0x7f000001`, `2130706433`) or second DNS answer gets past it.
 */
export type HostGuard = (address: string) => string | null;

const ALWAYS: [string, number, string][] = [
  ['0.0.0.0', 8, 'this host (unspecified)'],
  ['127.0.0.0', 8, 'this host (loopback)'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
];

/** Interfaces whose whole subnet is containers, never a remote network. */
const BRIDGE_NAMES = /^(afl-|docker|br-|veth)/;

const mask = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
const within = (addr: number, base: number, bits: number): boolean => ((addr & mask(bits)) >>> 0) === ((base & mask(bits)) >>> 0);

/**
 * The guard for this host (the flock's own bridge is one of its `afl-` interfaces). Interfaces
 * are read on every check: bridges come and go while the daemon runs.
 */
export function hostGuard(): HostGuard {
  return (address) => {
    const addr = parseIpv4(address);
    if (addr === null) return `${address} is not an IPv4 address`;
    for (const [base, bits, why] of ALWAYS) if (within(addr, parseIpv4(base)!, bits)) return `${address} is ${why}`;
    for (const [name, list] of Object.entries(networkInterfaces())) {
      for (const a of list ?? []) {
        if (a.family !== 'IPv4') continue;
        if (a.address === address) return `${address} is an address of this host (${name})`;
        const bits = Number(a.cidr?.split('/')[1] ?? 32);
        if (BRIDGE_NAMES.test(name) && within(addr, parseIpv4(a.address)!, bits)) return `${address} is on the container bridge ${name} (${a.cidr})`;
      }
    }
    return null;
  };
}
