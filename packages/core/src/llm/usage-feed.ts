import type { LlmUsageEvent } from './gateway.js';

export type UsageListener = (e: LlmUsageEvent) => void;

/**
 * Where priced LLM usage goes: the ledger (economy) subscribes to charge it, the store to
 * persist it. A listener that throws must not break a model call or the other listeners.
 */
export class UsageFeed {
  private readonly listeners = new Set<UsageListener>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  subscribe(fn: UsageListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  publish(e: LlmUsageEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
