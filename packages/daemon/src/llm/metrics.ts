import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState, GatewayObserver } from '@aiflock/core';

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** The gateway's Prometheus metrics: tokens, latency, provider choice, fallbacks, breakers, refusals. */
export function createLlmMetrics(registry: Registry) {
  const tokens = new Counter({ name: 'aiflock_llm_tokens_total', help: 'LLM tokens by direction (in/out), provider and model', labelNames: ['direction', 'provider', 'model'], registers: [registry] });
  const requests = new Counter({ name: 'aiflock_llm_requests_total', help: 'LLM calls by provider selected, model and outcome', labelNames: ['provider', 'model', 'outcome'], registers: [registry] });
  const latency = new Histogram({
    name: 'aiflock_llm_request_duration_seconds',
    help: 'LLM call latency through the gateway, retries and fallbacks included',
    labelNames: ['provider', 'model', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 120],
    registers: [registry],
  });
  const fallbacks = new Counter({ name: 'aiflock_llm_fallbacks_total', help: 'Provider attempts that failed and made the gateway retry or fail over', labelNames: ['provider', 'kind'], registers: [registry] });
  const refusals = new Counter({ name: 'aiflock_llm_quota_refusals_total', help: 'Calls refused by an entitlement, by limit', labelNames: ['limit'], registers: [registry] });
  const cost = new Counter({ name: 'aiflock_llm_cost_aidollars_total', help: 'aiDollars of priced LLM usage', labelNames: ['provider', 'model'], registers: [registry] });
  let breakerStates: () => Record<string, BreakerState> = () => ({});
  new Gauge({
    name: 'aiflock_llm_breaker_state',
    help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open',
    labelNames: ['provider'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [provider, s] of Object.entries(breakerStates())) this.set({ provider }, BREAKER_VALUE[s]);
    },
  });

  const observer: Required<Omit<GatewayObserver, 'usage'>> & Pick<GatewayObserver, 'usage'> = {
    usage: (e) => {
      const provider = e.provider ?? 'none';
      requests.inc({ provider, model: e.model, outcome: e.outcome });
      latency.observe({ provider, model: e.model, outcome: e.outcome }, e.latencyMs / 1000);
      if (e.tokensIn) tokens.inc({ direction: 'in', provider, model: e.model }, e.tokensIn);
      if (e.tokensOut) tokens.inc({ direction: 'out', provider, model: e.model }, e.tokensOut);
      if (e.costAiDollars) cost.inc({ provider, model: e.model }, e.costAiDollars);
    },
    fallback: (provider, kind) => fallbacks.inc({ provider, kind }),
    breaker: () => undefined, // read at scrape time from the breakers themselves
    refused: (_caller, limit) => refusals.inc({ limit }),
  };
  return {
    observer,
    /** The gateway is built after the metrics; it hands over its breaker states here. */
    watchBreakers(fn: () => Record<string, BreakerState>) {
      breakerStates = fn;
    },
  };
}

export type LlmMetrics = ReturnType<typeof createLlmMetrics>;
