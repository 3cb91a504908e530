import type { Usage } from '../ports/llm-provider.js';
import type { GatewayDeps, LlmCaller, LlmUsageEvent } from './gateway-types.js';
import { priceUsage, type ModelRoute } from './registry.js';

/** Prices the call on its route (nothing without one) and emits its usage event; returns the cost. */
export function reportUsage(
  deps: Pick<GatewayDeps, 'clock' | 'observer'>,
  correlationId: string,
  caller: LlmCaller,
  model: string,
  route: ModelRoute | null,
  provider: string | null,
  usage: Usage,
  started: number,
  fallbackUsed: boolean,
  attempts: number,
  outcome: LlmUsageEvent['outcome'],
): number {
  const cost = route ? priceUsage(route, usage.tokensIn, usage.tokensOut) : 0;
  const now = deps.clock.now();
  deps.observer?.usage?.({
    correlationId,
    caller: caller.id,
    agent: caller.agent ?? null,
    instanceId: caller.instanceId ?? null,
    model,
    provider,
    providerModel: route?.model ?? null,
    tokensIn: usage.tokensIn,
    tokensOut: usage.tokensOut,
    costAiDollars: cost,
    latencyMs: now.getTime() - started,
    fallbackUsed,
    attempts,
    outcome,
    ts: now.toISOString(),
  });
  return cost;
}
