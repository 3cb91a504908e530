import { FlockError } from '../errors.js';
import type { RpcRouter } from '../rpc/router.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../ports/clock.js';
import type { ComputeControlStore } from '../ports/compute-controls.js';
import type { LedgerStore, LedgerTxn } from '../ports/ledger.js';
import { agentAccount, FEES } from './accounts.js';
import type { Ledger } from './ledger.js';
import { entitlementsOf, modelRefusal, type ComputeGrant, type Entitlements, type TierSpec } from './tiers.js';

/** What the LLM gateway and the scheduler ask before letting an agent use compute. */
export interface EntitlementSource {
  entitlementsFor(agent: string): Promise<Entitlements>;
}

/** One priced LLM call, reported by the gateway after it happened. */
export interface UsageCharge {
  agent: string;
  model: string;
  provider: string;
  tokensIn: number;
  tokensOut: number;
  /** Price in cents at the gateway's rates. */
  cost: number;
  /** The call's correlation id: charging the same call twice records one entry. */
  correlationId: string;
}

export interface UsageSink {
  chargeUsage(u: UsageCharge): Promise<{ txn: LedgerTxn | null; charged: number; shortfall: number }>;
}

export const MAX_PURCHASE_HOURS = 24 * 30;

/**
 * Compute entitlements from the ledger: the balance's tier, bought periods, admin freezes;
 * and the two ways compute costs money (usage charged by the gateway, tier purchases).
 */
export class ComputeService implements EntitlementSource, UsageSink {
  constructor(
    private readonly deps: {
      ledger: Ledger;
      ledgerStore: LedgerStore;
      controls: ComputeControlStore;
      audit: AuditLog;
      clock: Clock;
      tiers: readonly TierSpec[];
    },
  ) {}

  get tiers(): readonly TierSpec[] {
    return this.deps.tiers;
  }

  async entitlementsFor(agent: string): Promise<Entitlements> {
    const account = agentAccount(agent);
    const [balance, control, grants] = await Promise.all([this.deps.ledgerStore.balance(account), this.deps.controls.get(agent), this.grants(agent)]);
    return entitlementsOf({ agent, balance, frozen: control?.frozen ?? false, grants, tiers: this.deps.tiers, now: this.deps.clock.now() });
  }

  /** The gateway's check before a call: the entitlements in force, or model_not_entitled. */
  async authorizeModel(agent: string, model: string): Promise<Entitlements> {
    const e = await this.entitlementsFor(agent);
    const refusal = modelRefusal(e, model, this.deps.tiers);
    if (refusal) throw refusal;
    return e;
  }

  /** Purchases whose period may still be running (newest first; a period is at most 30 days). */
  private async grants(agent: string): Promise<ComputeGrant[]> {
    const since = new Date(this.deps.clock.now().getTime() - MAX_PURCHASE_HOURS * 3600_000).toISOString();
    const txns = await this.deps.ledgerStore.list({ reason: 'purchase_compute', from: agentAccount(agent), since, limit: 200 });
    return txns.flatMap((t) => {
      const m = t.meta as { tier?: unknown; until?: unknown } | null;
      return m && typeof m.tier === 'string' && typeof m.until === 'string' ? [{ tier: m.tier, until: m.until }] : [];
    });
  }

  /**
   * Charge a call that already happened. Usage is never refused after the fact: when the
   * balance is short, what is there is charged and the shortfall reported (and the next
   * entitlement check sees the empty balance).
   */
  async chargeUsage(u: UsageCharge): Promise<{ txn: LedgerTxn | null; charged: number; shortfall: number }> {
    if (!Number.isSafeInteger(u.cost) || u.cost < 0) throw new FlockError('validation_failed', `cost: a whole number of cents, got ${u.cost}`, { field: 'cost', value: u.cost });
    for (const f of ['tokensIn', 'tokensOut'] as const) {
      if (!Number.isSafeInteger(u[f]) || u[f] < 0) throw new FlockError('validation_failed', `${f}: a whole number of tokens, got ${u[f]}`, { field: f, value: u[f] });
    }
    const key = `llm:${u.correlationId}`;
    const existing = await this.deps.ledgerStore.byKey(key);
    if (existing) return { txn: existing, charged: existing.amount, shortfall: shortfallOf(existing) };
    const balance = await this.deps.ledgerStore.balance(agentAccount(u.agent));
    const amount = Math.min(u.cost, Math.max(0, balance));
    if (amount === 0) return { txn: null, charged: 0, shortfall: u.cost };
    const meta = { model: u.model, provider: u.provider, tokensIn: u.tokensIn, tokensOut: u.tokensOut, cost: u.cost, shortfall: u.cost - amount };
    try {
      const { txn } = await this.deps.ledger.transfer({
        from: agentAccount(u.agent),
        to: FEES,
        amount,
        reason: 'llm_usage',
        source: 'gateway',
        idempotencyKey: key,
        correlationId: u.correlationId,
        meta,
      });
      return { txn, charged: txn.amount, shortfall: shortfallOf(txn) };
    } catch (err) {
      // A concurrent retry of the same call won the key (possibly with a different partial
      // amount); its entry is the one charge for this call.
      const won = await this.deps.ledgerStore.byKey(key);
      if (won) return { txn: won, charged: won.amount, shortfall: shortfallOf(won) };
      // Spent elsewhere between the read and the charge: charge again with what is left.
      if (err instanceof FlockError && err.code === 'insufficient_funds') return this.chargeUsage(u);
      throw err;
    }
  }

  /** Buy `hours` of `tier`; a purchase of a tier already in force extends its period. */
  async purchase(p: { agent: string; tier: string; hours: number; idempotencyKey: string; actor: string; requestId?: string }): Promise<{ txn: LedgerTxn; applied: boolean; entitlements: Entitlements }> {
    const spec = this.deps.tiers.find((t) => t.name === p.tier);
    if (!spec) throw new FlockError('validation_failed', `tier: no tier named ${p.tier} (have ${this.deps.tiers.map((t) => t.name).join(', ')})`, { field: 'tier', value: p.tier });
    if (spec.pricePerHour <= 0) throw new FlockError('validation_failed', `tier: ${p.tier} is not for sale`, { field: 'tier', value: p.tier });
    if (!Number.isInteger(p.hours) || p.hours < 1 || p.hours > MAX_PURCHASE_HOURS) {
      throw new FlockError('validation_failed', `hours: a whole number from 1 to ${MAX_PURCHASE_HOURS}`, { field: 'hours', value: p.hours });
    }
    const existing = await this.deps.ledgerStore.byKey(p.idempotencyKey);
    const same = (t: LedgerTxn) => {
      const m = t.meta as { tier?: string; hours?: number } | null;
      return t.reason === 'purchase_compute' && t.from === agentAccount(p.agent) && m?.tier === p.tier && m.hours === p.hours;
    };
    if (existing) {
      if (!same(existing)) throw new FlockError('idempotency_conflict', `idempotency key ${p.idempotencyKey} was already used for a different ledger transaction (${existing.id})`, { existing: existing.id });
      return { txn: existing, applied: false, entitlements: await this.entitlementsFor(p.agent) };
    }
    const now = this.deps.clock.now();
    const running = (await this.grants(p.agent)).filter((g) => g.tier === p.tier && Date.parse(g.until) > now.getTime()).map((g) => g.until);
    const start = running.length ? new Date(Math.max(...running.map((u) => Date.parse(u)))) : now;
    const until = new Date(start.getTime() + p.hours * 3600_000).toISOString();
    const { txn, applied } = await this.deps.ledger.transfer({
      from: agentAccount(p.agent),
      to: FEES,
      amount: spec.pricePerHour * p.hours,
      reason: 'purchase_compute',
      source: p.actor,
      actor: p.actor,
      idempotencyKey: p.idempotencyKey,
      meta: { tier: p.tier, hours: p.hours, from: start.toISOString(), until },
      ...(p.requestId ? { requestId: p.requestId } : {}),
    });
    return { txn, applied, entitlements: await this.entitlementsFor(p.agent) };
  }

  /** Freeze or unfreeze an agent's compute (admin); audited either way. */
  async setFrozen(p: { agent: string; frozen: boolean; note?: string; actor: string; requestId?: string }): Promise<Entitlements> {
    await this.deps.controls.set({ agent: p.agent, frozen: p.frozen, note: p.note ?? null, updatedBy: p.actor, updatedAt: this.deps.clock.now().toISOString() });
    await this.deps.audit.record({
      actor: p.actor,
      action: p.frozen ? 'compute.freeze' : 'compute.unfreeze',
      resource: `agent/${p.agent}`,
      outcome: 'ok',
      ...(p.requestId ? { requestId: p.requestId } : {}),
      details: { note: p.note ?? null },
    });
    return this.entitlementsFor(p.agent);
  }
}

function shortfallOf(t: LedgerTxn): number {
  const m = t.meta as { shortfall?: unknown } | null;
  return typeof m?.shortfall === 'number' ? m.shortfall : 0;
}

/**
 * The economy's bus operations for agents (`agent.<id>.rpc.economy.<op>`), mounted from the
 * catalogue (`AGENT_OPS`): an agent reads its own balance and tier (its perception) and buys
 * tier periods with its own money. The agent is always the caller from the subject; there is
 * no operation that pays anyone else.
 */
export function mountEconomyOps(rpc: RpcRouter, compute: ComputeService): void {
  rpc.op('economy.status', (c) => compute.entitlementsFor(c.agent));
  rpc.op('economy.purchase', (c, i) => compute.purchase({ agent: c.agent, ...i, actor: `agent:${c.agent}` }));
}
