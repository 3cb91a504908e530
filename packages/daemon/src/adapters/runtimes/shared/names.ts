import { createHash } from 'node:crypto';
import { FlockError } from '@aiflock/core';

/**
 * Flock names end up in every runtime's host names (interfaces, chains, cgroups, sockets:
 * short, restricted alphabets), hence the strict pattern, checked by every runtime.
 */
export const FLOCK_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function assertFlockName(flock: string): void {
  if (!FLOCK_NAME_PATTERN.test(flock)) {
    throw new FlockError('validation_failed', `flock name "${flock}" is not valid: expected 1-32 lower-case letters, digits and dashes, starting with a letter`);
  }
}

function shortHash(s: string, len: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** Fits `prefix + flock` into `max` chars; longer names keep a readable head plus a hash. */
export function fitName(prefix: string, flock: string, max: number): string {
  const plain = `${prefix}${flock}`;
  if (plain.length <= max) return plain;
  const hash = shortHash(flock, 6);
  return `${prefix}${flock.slice(0, max - prefix.length - hash.length - 1)}-${hash}`;
}
