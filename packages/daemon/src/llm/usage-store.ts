import type { Store, UsageFeed } from '@aiflock/core';
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
