import type { Clock, LlmGateway, Store, UsageFeed } from '@aiflock/core';
import type { logFn } from '../logger.js';

/**
 * Persist every priced LLM call. Writes are queued in order and never block or fail a model
 * call; a failed write is logged (the usage metric still counted the call).
 */
export function persistUsage(feed: UsageFeed, store: Store, log: ReturnType<typeof logFn>): { flush(): Promise<void>; stop(): void } {
  let tail: Promise<void> = Promise.resolve();
  const stop = feed.subscribe((e) => {
    tail = tail.then(() =>
      store.llmUsage.append(e).catch((err: unknown) => log('error', `could not store LLM usage ${e.correlationId}: ${String(err)}`)),
    );
  });
  return { flush: () => tail, stop };
}

/** The longest entitlement window (tokens/hour). */
const HOUR_MS = 3_600_000;

/**
 * Rebuild the gateway's requests/min and tokens/hour counters from the last hour of recorded
 * calls, so a daemon restart does not reset anyone's limits. A call counts from when it
 * started (recorded end minus its latency), as it did when it was reserved. Calls still in
 * flight when the old process died were never recorded; their provider calls died with it.
 */
export async function restoreCounters(gateway: LlmGateway, store: Store, clock: Clock): Promise<number> {
  const since = new Date(clock.now().getTime() - HOUR_MS).toISOString();
  const rows = await store.llmUsage.since(since, 1_000_000);
  gateway.limiter.restore(rows.map((r) => ({ caller: r.caller, at: Date.parse(r.ts) - r.latencyMs, tokens: r.tokensIn + r.tokensOut })));
  return rows.length;
}
