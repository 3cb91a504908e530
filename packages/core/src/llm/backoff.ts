export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1-based): full-jitter exponential backoff, so a crowd
 * of callers does not retry in lock-step; a provider's Retry-After is a floor, never ignored.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number, retryAfterMs?: number): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** (attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs !== undefined ? Math.max(retryAfterMs, jittered) : jittered;
}
