import { createHash } from 'node:crypto';
import { FlockError } from '@aiflock/core';

/**
 * Every Docker and iptables name a flock owns is derived here, so that cleanup, list-by-label
 * and a restarted daemon all agree on them. Flock names end up in interface and chain names
 * (short, restricted alphabets), hence the strict pattern.
 */
export const FLOCK_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;

export const LABEL = {
  managed: 'aiflock.managed',
  flock: 'aiflock.flock',
  agent: 'aiflock.agent',
  instance: 'aiflock.instance',
  digest: 'aiflock.digest',
  node: 'aiflock.node',
  /** Only on operator sandboxes (which run on the operator engine). */
  profile: 'aiflock.profile',
} as const;

export function assertFlockName(flock: string): void {
  if (!FLOCK_NAME_PATTERN.test(flock)) {
    throw new FlockError('validation_failed', `flock name "${flock}" is not valid: expected 1-32 lower-case letters, digits and dashes, starting with a letter`);
  }
}

function shortHash(s: string, len: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** Fits `prefix + flock` into `max` chars; longer names keep a readable head plus a hash. */
function fit(prefix: string, flock: string, max: number): string {
  const plain = `${prefix}${flock}`;
  if (plain.length <= max) return plain;
  const hash = shortHash(flock, 6);
  return `${prefix}${flock.slice(0, max - prefix.length - hash.length - 1)}-${hash}`;
}

export const networkName = (flock: string): string => `aiflock-${flock}`;
/** Linux interface names are at most 15 characters (IFNAMSIZ - 1). */
export const bridgeInterfaceName = (flock: string): string => fit('afl-', flock, 15);
/** iptables chain names are at most 28 characters. */
export const firewallChainNames = (flock: string): { input: string; forward: string } => ({
  input: fit('AIFLOCK-IN-', flock, 28),
  forward: fit('AIFLOCK-FW-', flock, 28),
});
export const containerName = (flock: string, instanceId: string): string => `aiflock-${flock}-${instanceId}`;
