import type { Kysely, Selectable } from 'kysely';
import type { LlmUsageEvent, Store } from '@aiflock/core';
import type { Database, LlmUsageTable } from './tables.js';

/** Priced LLM calls, append-only, on any Kysely backend. */
export function llmUsageRepo(db: Kysely<Database>): Store['llmUsage'] {
  return {
    append: async (e) => {
      await db
        .insertInto('llm_usage')
        .values({
          correlation_id: e.correlationId,
          ts: e.ts,
          caller: e.caller,
          agent: e.agent,
          instance_id: e.instanceId,
          model: e.model,
          provider: e.provider,
          provider_model: e.providerModel,
          tokens_in: e.tokensIn,
          tokens_out: e.tokensOut,
          cost_micro: Math.round(e.costAiDollars * 1e6),
          latency_ms: Math.round(e.latencyMs),
          fallback_used: e.fallbackUsed ? 1 : 0,
          attempts: e.attempts,
          outcome: e.outcome,
        })
        .execute();
    },
    list: async (f) => {
      let q = db.selectFrom('llm_usage').selectAll();
      if (f.agent) q = q.where('agent', '=', f.agent);
      return (await q.orderBy('seq', 'desc').limit(f.limit).execute()).map(usageRow);
    },
    since: async (ts, limit) => (await db.selectFrom('llm_usage').selectAll().where('ts', '>=', ts).orderBy('ts', 'asc').orderBy('seq', 'asc').limit(limit).execute()).map(usageRow),
  };
}

function usageRow(r: Selectable<LlmUsageTable>): LlmUsageEvent {
  return {
    correlationId: r.correlation_id,
    ts: r.ts,
    caller: r.caller,
    agent: r.agent,
    instanceId: r.instance_id,
    model: r.model,
    provider: r.provider,
    providerModel: r.provider_model,
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costAiDollars: Number(r.cost_micro) / 1e6,
    latencyMs: Number(r.latency_ms),
    fallbackUsed: Number(r.fallback_used) === 1,
    attempts: Number(r.attempts),
    outcome: r.outcome as LlmUsageEvent['outcome'],
  };
}
