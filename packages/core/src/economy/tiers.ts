import type { Entitlements, Limits, TierSpec } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { formatAiDollars } from './money.js';
/**
 * Compute tiers: a balance maps to a tier, a tier to entitlements. The
 * gateway enforces models, requests/min, tokens/hour and concurrent calls; the scheduler
 * enforces concurrent tool runs. Pure functions: the tiers come from daemon config.
 */
export type { TierSpec, Limits, Entitlements } from '@aiflock/protocol';

/** An active compute purchase: `tier` until `until`. */
export interface ComputeGrant {
  tier: string;
  until: string;
}

export const FROZEN_LIMITS: Limits = { models: [], requestsPerMinute: 0, tokensPerHour: 0, concurrentCalls: 0, concurrentToolRuns: 0 };

const limitsOf = (t: TierSpec): Limits => ({
  models: [...t.models],
  requestsPerMinute: t.requestsPerMinute,
  tokensPerHour: t.tokensPerHour,
  concurrentCalls: t.concurrentCalls,
  concurrentToolRuns: t.concurrentToolRuns,
});

/** Tiers sorted by minBalance; the config guarantees the first starts at 0. */
export function sortTiers(tiers: readonly TierSpec[]): TierSpec[] {
  return [...tiers].sort((a, b) => a.minBalance - b.minBalance);
}

/** The highest tier whose threshold the balance reaches (the lowest tier for anything less). */
export function tierForBalance(balance: number, tiers: readonly TierSpec[]): TierSpec {
  const sorted = sortTiers(tiers);
  let chosen = sorted[0]!;
  for (const t of sorted) if (balance >= t.minBalance) chosen = t;
  return chosen;
}

/**
 * What an agent may do now: frozen beats everything; otherwise the better of the tier its
 * balance earns and any tier it has bought that is still in force.
 */
export function entitlementsOf(input: {
  agent: string;
  balance: number;
  frozen: boolean;
  grants: readonly ComputeGrant[];
  tiers: readonly TierSpec[];
  now: Date;
}): Entitlements {
  const base = { agent: input.agent, balance: input.balance, frozen: input.frozen };
  if (input.frozen) return { ...base, tier: 'none', basis: 'frozen', until: null, limits: { ...FROZEN_LIMITS, models: [] } };
  const sorted = sortTiers(input.tiers);
  const rank = (name: string) => sorted.findIndex((t) => t.name === name);
  const earned = tierForBalance(input.balance, sorted);
  let best: { tier: TierSpec; until: string | null } = { tier: earned, until: null };
  for (const g of input.grants) {
    if (Date.parse(g.until) <= input.now.getTime()) continue;
    const r = rank(g.tier);
    // A grant for a tier that config no longer has is ignored rather than guessed at.
    if (r < 0) continue;
    const cur = rank(best.tier.name);
    if (r > cur || (r === cur && best.until !== null && g.until > best.until)) best = { tier: sorted[r]!, until: g.until };
  }
  return { ...base, tier: best.tier.name, basis: best.until ? 'purchase' : 'balance', until: best.until, limits: limitsOf(best.tier) };
}

/**
 * Null when `model` is allowed; otherwise the error the gateway answers with, saying what
 * the agent has, what the model needs, and how to get there.
 */
export function modelRefusal(e: Entitlements, model: string, tiers: readonly TierSpec[]): FlockError | null {
  if (e.limits.models.includes(model)) return null;
  if (e.frozen) return new FlockError('model_not_entitled', `agent ${e.agent}'s compute is frozen by an admin; no model may be called`, { agent: e.agent, tier: 'none', model });
  const needs = sortTiers(tiers).find((t) => t.models.includes(model));
  const how = needs ? `; model ${model} needs ${needs.name} (a balance of ${formatAiDollars(needs.minBalance)} aiDollars${needs.pricePerHour ? ` or ${formatAiDollars(needs.pricePerHour)} aiDollars/hour purchased` : ''})` : `; no tier includes model ${model}`;
  return new FlockError(
    'model_not_entitled',
    `agent ${e.agent} is on ${e.tier} (balance ${formatAiDollars(e.balance)} aiDollars), which allows ${e.limits.models.join(', ') || 'no models'}${how}`,
    { agent: e.agent, tier: e.tier, model, allowed: e.limits.models, needs: needs?.name ?? null },
  );
}
