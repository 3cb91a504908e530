import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, ComputeService, Ledger, MINT, agentAccount, type Store, type TierSpec } from '@aiflock/core';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';

const tier = (name: string, minBalance: number, models: string[], price: number): TierSpec => ({
  name,
  minBalance,
  models,
  requestsPerMinute: 10 * (minBalance + 1),
  tokensPerHour: 1000,
  concurrentCalls: 1,
  concurrentToolRuns: 1,
  pricePerHour: price,
});
const TIERS = [tier('tier0', 0, ['small'], 0), tier('tier1', 1_000, ['small', 'medium'], 100), tier('tier2', 10_000, ['small', 'medium', 'large'], 500)];

/** Entitlements derived from the ledger: rewards raise the tier, penalties lower it, purchases and freezes. */
export function contract(open: () => Promise<Store>): void {
  describe('compute entitlements', () => {
    let dir: string;
    let store: Store;
    let ledger: Ledger;
    let compute: ComputeService;
    let t = Date.parse('2026-05-01T00:00:00Z');
    const clock = { now: () => new Date(t) };

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aiflock-compute-'));
      store = await open();
      const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock });
      ledger = new Ledger({ store: store.ledger, audit, clock });
      compute = new ComputeService({ ledger, ledgerStore: store.ledger, controls: store.computeControls, audit, clock, tiers: TIERS });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('a reward raises the tier (a larger model allowed), a penalty lowers it', async () => {
      expect(await compute.entitlementsFor('scout')).toMatchObject({ tier: 'tier0', balance: 0, limits: { models: ['small'] } });
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 12_000, reason: 'reward', source: 'human:ann', idempotencyKey: 'r1', postId: 'post_x' });
      const up = await compute.entitlementsFor('scout');
      expect(up).toMatchObject({ tier: 'tier2', basis: 'balance', balance: 12_000 });
      expect(up.limits.models).toContain('large');
      await ledger.transfer({ from: agentAccount('scout'), to: MINT, amount: 11_500, reason: 'penalty', source: 'human:bob', idempotencyKey: 'p1', postId: 'post_x' });
      const down = await compute.entitlementsFor('scout');
      expect(down).toMatchObject({ tier: 'tier0', balance: 500 });
      expect(down.limits.models).not.toContain('large');
      // What the gateway answers after the penalty: a clear refusal naming tier, balance and the way up.
      const refused = await compute.authorizeModel('scout', 'large').catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'model_not_entitled', status: 403, details: { tier: 'tier0', model: 'large', needs: 'tier2' } });
      expect((refused as Error).message).toBe('agent scout is on tier0 (balance 5.00 aiDollars), which allows small; model large needs tier2 (a balance of 100.00 aiDollars or 5.00 aiDollars/hour purchased)');
      expect(await compute.authorizeModel('scout', 'small')).toMatchObject({ tier: 'tier0' });
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 9_500, reason: 'reward', source: 'human:ann', idempotencyKey: 'r2', postId: 'post_x' });
      expect(await compute.authorizeModel('scout', 'large')).toMatchObject({ tier: 'tier2' });
      await expect(compute.authorizeModel('scout', 'gpt-9')).rejects.toMatchObject({ message: expect.stringContaining('no tier includes model gpt-9') });
    });

    it('charges usage once per correlation id, and only what the balance holds', async () => {
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 300, reason: 'reward', source: 'human:ann', idempotencyKey: 'r1' });
      const usage = { agent: 'scout', model: 'small', provider: 'ollama', tokensIn: 100, tokensOut: 50, cost: 120, correlationId: 'call-1' };
      const first = await compute.chargeUsage(usage);
      const again = await compute.chargeUsage(usage);
      expect(first).toMatchObject({ charged: 120, shortfall: 0 });
      expect(again.txn!.id).toBe(first.txn!.id);
      expect(first.txn).toMatchObject({ reason: 'llm_usage', correlationId: 'call-1', meta: { model: 'small', tokensIn: 100, tokensOut: 50, cost: 120 } });
      expect(await store.ledger.balance('agent:scout')).toBe(180);
      const short = await compute.chargeUsage({ ...usage, cost: 500, correlationId: 'call-2' });
      expect(short).toMatchObject({ charged: 180, shortfall: 320 });
      expect(await store.ledger.balance('agent:scout')).toBe(0);
      expect(await compute.chargeUsage({ ...usage, correlationId: 'call-3' })).toEqual({ txn: null, charged: 0, shortfall: 120 });
      await expect(compute.chargeUsage({ ...usage, cost: -1, correlationId: 'call-4' })).rejects.toMatchObject({ code: 'validation_failed', details: { field: 'cost' } });
    });

    it('concurrent charges: one per correlation id, never below zero, every cent accounted for', async () => {
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 1_000, reason: 'reward', source: 'human:ann', idempotencyKey: 'r1' });
      const usage = { agent: 'scout', model: 'small', provider: 'ollama', tokensIn: 1, tokensOut: 1, cost: 70 };
      const same = await Promise.all(Array.from({ length: 20 }, () => compute.chargeUsage({ ...usage, correlationId: 'dup' })));
      expect(new Set(same.map((r) => r.txn!.id)).size).toBe(1);
      expect(await store.ledger.balance('agent:scout')).toBe(930);
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => compute.chargeUsage({ ...usage, correlationId: `c-${i}` })));
      expect(await store.ledger.balance('agent:scout')).toBe(0);
      expect(many.reduce((n, r) => n + r.charged, 0)).toBe(930);
      expect(many.reduce((n, r) => n + r.shortfall, 0)).toBe(20 * 70 - 930);
    });

    it('a purchase buys a tier for a period, extends it, is idempotent, and lapses', async () => {
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 900, reason: 'reward', source: 'human:ann', idempotencyKey: 'r1' });
      const bought = await compute.purchase({ agent: 'scout', tier: 'tier1', hours: 2, idempotencyKey: 'buy-1', actor: 'agent:scout' });
      expect(bought.applied).toBe(true);
      expect(bought.entitlements).toMatchObject({ tier: 'tier1', basis: 'purchase', balance: 700, until: '2026-05-01T02:00:00.000Z' });
      expect((await compute.purchase({ agent: 'scout', tier: 'tier1', hours: 2, idempotencyKey: 'buy-1', actor: 'agent:scout' })).applied).toBe(false);
      await expect(compute.purchase({ agent: 'scout', tier: 'tier1', hours: 3, idempotencyKey: 'buy-1', actor: 'agent:scout' })).rejects.toMatchObject({ code: 'idempotency_conflict' });
      const extended = await compute.purchase({ agent: 'scout', tier: 'tier1', hours: 1, idempotencyKey: 'buy-2', actor: 'agent:scout' });
      expect(extended.entitlements).toMatchObject({ until: '2026-05-01T03:00:00.000Z', balance: 600 });
      await expect(compute.purchase({ agent: 'scout', tier: 'tier2', hours: 2, idempotencyKey: 'buy-3', actor: 'agent:scout' })).rejects.toMatchObject({ code: 'insufficient_funds' });
      await expect(compute.purchase({ agent: 'scout', tier: 'tier0', hours: 1, idempotencyKey: 'buy-4', actor: 'agent:scout' })).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(compute.purchase({ agent: 'scout', tier: 'tier1', hours: 0, idempotencyKey: 'buy-5', actor: 'agent:scout' })).rejects.toMatchObject({ details: { field: 'hours' } });
      t += 3 * 3600_000;
      expect(await compute.entitlementsFor('scout')).toMatchObject({ tier: 'tier0', basis: 'balance', balance: 600 });
    });

    it('an admin freeze forces tier none until lifted, audited both ways', async () => {
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 50_000, reason: 'reward', source: 'human:ann', idempotencyKey: 'r1' });
      expect(await compute.setFrozen({ agent: 'scout', frozen: true, note: 'runaway loop', actor: 'admin:root' })).toMatchObject({ tier: 'none', frozen: true, limits: { models: [] } });
      expect(await compute.entitlementsFor('scout')).toMatchObject({ tier: 'none' });
      expect(await compute.setFrozen({ agent: 'scout', frozen: false, actor: 'admin:root' })).toMatchObject({ tier: 'tier2', frozen: false });
      const trail = await store.audit.list({ resource: 'agent/scout', limit: 10, ascending: true });
      expect(trail.map((e) => [e.actor, e.action])).toEqual([
        ['admin:root', 'compute.freeze'],
        ['admin:root', 'compute.unfreeze'],
      ]);
      expect(trail[0]!.details).toEqual({ note: 'runaway loop' });
    });
  });
}
