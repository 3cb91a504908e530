import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % 36];
  return out;
}

/** Task ids sort by creation time: a base36 millisecond timestamp then randomness. */
export function newTaskId(now: Date): string {
  return `t_${now.getTime().toString(36).padStart(9, '0')}${randomToken(14)}`;
}

export function newInstanceId(agent: string): string {
  return `${agent}-${randomToken(8)}`;
}

/** An id that sorts by creation time, with a prefix naming what it identifies (`lx`, `post`...). */
export function newSortableId(prefix: string, now: Date): string {
  return `${prefix}_${now.getTime().toString(36).padStart(9, '0')}${randomToken(14)}`;
}
