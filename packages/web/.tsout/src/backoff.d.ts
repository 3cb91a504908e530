/**
 * Reconnect delays: exponential from `baseMs`, capped at `maxMs`, with "full jitter" (a random
 * point in [0, delay]) so a daemon restart is not met by every open page at the same instant.
 */
export declare function backoffDelay(attempt: number, opts?: {
    baseMs?: number;
    maxMs?: number;
    random?: () => number;
}): number;
