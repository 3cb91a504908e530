import { modelRefusal, type ComputeService, type Entitlement, type Entitlements, type UsageFeed, type UsageSink } from '@aiflock/core';
import type { logFn } from '../logger.js';

/** What the gateway needs of the economy: an agent's tier now, and the tier table for refusals. */
export type TierSource = Pick<ComputeService, 'entitlementsFor' | 'tiers'>;

/**
 * An agent's compute tier as a gateway entitlement: the tier's models, requests/min,
 * tokens/hour and concurrent calls. Read from the ledger on every call, so a reward or a
 * penalty changes what the agent may do on its very next call. A frozen agent's tier
 * (`none`) allows no model, and the refusal says an admin froze it.
 */
export function tierEntitlement(e: Entitlements, tiers: TierSource['tiers']): Entitlement {
  return {
    models: e.limits.models,
    requestsPerMinute: e.limits.requestsPerMinute,
    tokensPerHour: e.limits.tokensPerHour,
    concurrent: e.limits.concurrentCalls,
    holder: e.frozen ? `agent ${e.agent} (compute frozen by an admin)` : `agent ${e.agent} on ${e.tier}`,
    refuseModel: (model) => modelRefusal(e, model, tiers),
  };
}

/**
 * aiDollars (the gateway prices to a millionth) to ledger cents, rounded up: the ledger's
 * unit is the cent, and a priced call must never become free by rounding. Integer maths on
 * millionths, so 0.07 aiDollars is exactly 7 cents.
 */
export function aiDollarsToCents(aiDollars: number): number {
  const micro = Math.round(aiDollars * 1e6);
  return micro <= 0 ? 0 : Math.ceil(micro / 10_000);
}

/**
 * Charge every priced agent call to the agent's account (`llm_usage`, idempotent per
 * correlation id). Charges run one at a time in call order and never block or fail a model
 * call; a failed charge is logged. HTTP callers (tokens) have no account and are not charged.
 */
export function chargeUsageToLedger(feed: UsageFeed, sink: UsageSink, log: ReturnType<typeof logFn>): { flush(): Promise<void>; stop(): void } {
  let tail: Promise<void> = Promise.resolve();
  const stop = feed.subscribe((e) => {
    const cost = aiDollarsToCents(e.costAiDollars);
    if (!e.agent || cost === 0 || !e.provider) return;
    const charge = { agent: e.agent, model: e.model, provider: e.provider, tokensIn: e.tokensIn, tokensOut: e.tokensOut, cost, correlationId: e.correlationId };
    tail = tail.then(async () => {
      try {
        const r = await sink.chargeUsage(charge);
        if (r.shortfall > 0) log('warn', `agent ${e.agent} could not pay all of LLM call ${e.correlationId}: charged ${r.charged} of ${cost} cents`, { agent: e.agent, correlationId: e.correlationId, shortfall: r.shortfall });
      } catch (err) {
        log('error', `could not charge LLM call ${e.correlationId} to agent ${e.agent}: ${String(err)}`, { agent: e.agent, correlationId: e.correlationId });
      }
    });
  });
  return { flush: () => tail, stop };
}
