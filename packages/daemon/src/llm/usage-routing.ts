import type { Store, UsageFeed, UsageSink } from '@aiflock/core';
import type { Logger, logFn } from '../logger.js';
import { chargeUsageToLedger } from './economy-bridge.js';
import { persistUsage } from './usage-store.js';

/**
 * Where every model call's usage goes: a row in the store, a charge to the agent's account
 * and a log line. `close` stops listening and waits for the queued writes and charges.
 */
export function routeUsage(feed: UsageFeed, deps: { store: Store; compute: UsageSink; logger: Logger; log: ReturnType<typeof logFn> }): { close(): Promise<void> } {
  const usageRows = persistUsage(feed, deps.store, deps.log);
  const usageCharges = chargeUsageToLedger(feed, deps.compute, deps.log);
  // Seed 3's log fields for model calls: one line per call, whoever made it (agent or HTTP).
  const unlogUsage = feed.subscribe((e) =>
    deps.logger.info(
      { provider: e.provider, model: e.model, providerModel: e.providerModel, tokens: e.tokensIn + e.tokensOut, tokensIn: e.tokensIn, tokensOut: e.tokensOut, latencyMs: e.latencyMs, outcome: e.outcome, actor: e.caller, agent: e.agent, correlationId: e.correlationId, costAiDollars: e.costAiDollars },
      'llm call',
    ),
  );
  return {
    async close() {
      unlogUsage();
      usageRows.stop();
      await usageRows.flush();
      usageCharges.stop();
      await usageCharges.flush();
    },
  };
}
