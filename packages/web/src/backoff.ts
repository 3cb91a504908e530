/**
 * Reconnect delays: exponential from `baseMs`, capped at `maxMs`, with "full jitter" (a random
 * point in [0, delay]) so a daemon restart is not met by every open page at the same instant.
 */
export function backoffDelay(attempt: number, opts: { baseMs?: number; maxMs?: number; random?: () => number } = {}): number {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 15_000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt));
  // Never zero: at least a tenth of the ceiling, so a tight loop is impossible.
  return Math.round(ceiling * (0.1 + 0.9 * (opts.random ?? Math.random)()));
}
