import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, FlockError, Ledger, verifyLedger, MINT, FEES, agentAccount, humanAccount, type AccountId, type LedgerReason, type Store } from '@aiflock/core';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';

/**
 * The aiDollar ledger on a real store: double entry, idempotency keys, floors under
 * concurrency, and the audit trail of every applied transaction.
 */
export function contract(open: () => Promise<Store>): void {
  describe('ledger', () => {
    let dir: string;
    let store: Store;
    let audit: AuditLog;
    let ledger: Ledger;
    let t = Date.parse('2026-04-01T00:00:00Z');
    const clock = { now: () => new Date((t += 7)) };

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aiflock-ledger-'));
      store = await open();
      audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock });
      ledger = new Ledger({ store: store.ledger, audit, clock });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const mint = (to: AccountId, amount: number, key: string) =>
      ledger.transfer({ from: MINT, to, amount, reason: 'deposit_credit', source: 'payment:test', idempotencyKey: key });

    const sumOfAll = async () => [...(await store.ledger.balances()).values()].reduce((a, b) => a + b, 0);

    it('moves money as two entries, derives balances, and audits the transaction', async () => {
      const { txn, applied } = await mint(agentAccount('scout'), 1250, 'pay-1');
      expect(applied).toBe(true);
      await ledger.transfer({ from: agentAccount('scout'), to: FEES, amount: 250, reason: 'purchase_compute', source: 'agent:scout', idempotencyKey: 'buy-1', meta: { tier: 'tier1' } });
      expect(await store.ledger.balance(agentAccount('scout'))).toBe(1000);
      expect(await store.ledger.balance(FEES)).toBe(250);
      expect(await store.ledger.balance(MINT)).toBe(-1250);
      expect(await sumOfAll()).toBe(0);
      expect((await store.ledger.entries(txn.id)).map((e) => [e.account, e.amount])).toEqual([
        [MINT, -1250],
        ['agent:scout', 1250],
      ]);
      const history = await store.ledger.history({ account: 'agent:scout', limit: 10 });
      expect(history.map((h) => h.reason)).toEqual(['purchase_compute', 'deposit_credit']);
      expect(history[0]!.meta).toEqual({ tier: 'tier1' });
      const trail = await store.audit.list({ limit: 10, ascending: true });
      expect(trail.map((e) => [e.action, e.resource])).toEqual([
        ['ledger.deposit_credit', `ledger/${txn.id}`],
        ['ledger.purchase_compute', `ledger/${history[0]!.id}`],
      ]);
      expect(trail[0]!.details).toMatchObject({ from: MINT, to: 'agent:scout', amount: 1250, key: 'pay-1' });
    });

    it('applies a key once, and refuses the same key for different content', async () => {
      const first = await mint(agentAccount('scout'), 500, 'pay-dup');
      const again = await mint(agentAccount('scout'), 500, 'pay-dup');
      expect(again).toEqual({ txn: first.txn, applied: false });
      expect(await store.ledger.balance('agent:scout')).toBe(500);
      const err = await mint(agentAccount('scout'), 501, 'pay-dup').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlockError);
      expect(err).toMatchObject({ code: 'idempotency_conflict' });
      expect(await store.ledger.balance('agent:scout')).toBe(500);
      expect(await store.audit.list({ limit: 10 })).toHaveLength(1);
    });

    it('refuses a spend below the floor and changes nothing', async () => {
      await mint(agentAccount('scout'), 100, 'pay-2');
      const err = await ledger
        .transfer({ from: agentAccount('scout'), to: MINT, amount: 101, reason: 'penalty', source: 'human:ann', idempotencyKey: 'pen-1' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'insufficient_funds', details: { balance: 100, amount: 101 } });
      expect((err as Error).message).toContain('1.00 aiDollars');
      expect(await store.ledger.balance('agent:scout')).toBe(100);
      expect(await store.ledger.byKey('pen-1')).toBeUndefined();
    });

    it('rejects malformed transfers with the field named, writing nothing', async () => {
      const base = { from: MINT, to: agentAccount('scout'), amount: 5, reason: 'reward' as LedgerReason, source: 'human:ann', idempotencyKey: 'k' };
      const cases: [Record<string, unknown>, string][] = [
        [{ amount: 0 }, 'amount'],
        [{ amount: 1.5 }, 'amount'],
        [{ amount: -3 }, 'amount'],
        [{ amount: Number.MAX_SAFE_INTEGER }, 'amount'],
        [{ to: MINT }, 'to'],
        [{ to: 'agent:Not Valid' }, 'to'],
        [{ from: 'bank' }, 'from'],
        [{ reason: 'gift' }, 'reason'],
        [{ idempotencyKey: 'has space' }, 'idempotencyKey'],
      ];
      for (const [over, field] of cases) {
        const err = await ledger.transfer({ ...base, ...over } as Parameters<Ledger['transfer']>[0]).catch((e: unknown) => e);
        expect(err, JSON.stringify(over)).toMatchObject({ code: 'validation_failed', details: { field } });
      }
      expect((await store.ledger.balances()).size).toBe(0);
    });

    it('100 concurrent spends against one balance never overdraw it', async () => {
      await mint(agentAccount('spender'), 50, 'fund');
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          ledger.transfer({ from: agentAccount('spender'), to: FEES, amount: 1, reason: 'llm_usage', source: 'gateway', idempotencyKey: `spend-${i}` }),
        ),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(50);
      expect(refused).toHaveLength(50);
      for (const r of refused) expect(r.reason).toMatchObject({ code: 'insufficient_funds' });
      expect(await store.ledger.balance('agent:spender')).toBe(0);
      expect(await store.ledger.balance(FEES)).toBe(50);
      expect(await sumOfAll()).toBe(0);
    });

    it('caps are checked atomically: 30 concurrent rewards against a 10-reward daily limit apply exactly 10', async () => {
      const cap = { name: 'ann daily', max: 1_000, reasons: ['reward', 'penalty'], source: 'human:ann', since: '2026-01-01T00:00:00.000Z' };
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          ledger.transfer({ from: MINT, to: agentAccount(`a${i % 3}`), amount: 100, reason: 'reward', source: 'human:ann', idempotencyKey: `cap-${i}`, caps: [cap] }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'reward_limit_exceeded', details: { cap: 'ann daily', limit: 1_000, used: 1_000 } });
      expect((await store.ledger.list({ sourcePrefix: 'human:ann', limit: 100 })).reduce((n, t) => n + t.amount, 0)).toBe(1_000);
      // Other sources and other reasons do not count against it.
      await ledger.transfer({ from: MINT, to: agentAccount('a0'), amount: 100, reason: 'reward', source: 'human:bob', idempotencyKey: 'bob-1', caps: [{ ...cap, source: 'human:bob' }] });
      await ledger.transfer({ from: MINT, to: agentAccount('a0'), amount: 100, reason: 'deposit_credit', source: 'human:ann', idempotencyKey: 'dep-1', caps: [{ ...cap, reasons: ['deposit_credit'] }] });
    });

    describe('tampering with the ledger tables directly is detected', () => {
      const raw = () => (store as SqlStore).db;
      let ids: string[];
      beforeEach(async () => {
        ids = [];
        ids.push((await mint(agentAccount('scout'), 1_000, 'v-1')).txn.id);
        ids.push((await ledger.transfer({ from: agentAccount('scout'), to: FEES, amount: 300, reason: 'llm_usage', source: 'gateway', idempotencyKey: 'v-2' })).txn.id);
        ids.push((await mint(agentAccount('other'), 50, 'v-3')).txn.id);
      });
      const verdict = () => verifyLedger(store.ledger, store.audit);

      it('an untouched ledger verifies', async () => {
        expect(await verdict()).toEqual({ ok: true, transactions: 3, sum: 0, problems: [] });
      });

      it('an edited entry amount (balance inflated)', async () => {
        await raw().updateTable('ledger_entries').set({ amount: 5_000 }).where('txn_id', '=', ids[0]!).where('account', '=', 'agent:scout').execute();
        const v = await verdict();
        expect(v).toMatchObject({ ok: false, sum: 4_000 });
        expect(v.problems.map((p) => p.txn)).toEqual([ids[0], '*']);
      });

      it('a consistent edit of header and both entries still disagrees with the audit log', async () => {
        await raw().updateTable('ledger_txns').set({ amount: 9_000 }).where('id', '=', ids[0]!).execute();
        await raw().updateTable('ledger_entries').set({ amount: -9_000 }).where('txn_id', '=', ids[0]!).where('account', '=', MINT).execute();
        await raw().updateTable('ledger_entries').set({ amount: 9_000 }).where('txn_id', '=', ids[0]!).where('account', '=', 'agent:scout').execute();
        const v = await verdict();
        expect(v.sum).toBe(0);
        expect(v.problems).toEqual([{ txn: ids[0], problem: expect.stringContaining('differs from its audit entry') }]);
      });

      it('a deleted transaction (a spend erased)', async () => {
        await raw().deleteFrom('ledger_entries').where('txn_id', '=', ids[1]!).execute();
        await raw().deleteFrom('ledger_txns').where('id', '=', ids[1]!).execute();
        expect((await verdict()).problems).toEqual([{ txn: ids[1], problem: 'audited but missing from the ledger (deleted)' }]);
      });

      it('an inserted transaction that was never applied through the ledger', async () => {
        const forged = { ...(await store.ledger.byKey('v-3'))!, id: 'lx_forged', idempotencyKey: 'forged' };
        await raw().insertInto('ledger_txns').values({ id: forged.id, idempotency_key: forged.idempotencyKey, request_hash: forged.requestHash, from_account: forged.from, to_account: forged.to, amount: forged.amount, reason: forged.reason, source: forged.source, post_id: null, correlation_id: null, meta: 'null', created_at: forged.createdAt }).execute();
        await raw().insertInto('ledger_entries').values([{ txn_id: forged.id, account: forged.from, amount: -forged.amount }, { txn_id: forged.id, account: forged.to, amount: forged.amount }]).execute();
        expect((await verdict()).problems).toEqual([{ txn: 'lx_forged', problem: 'no audit entry records this transaction' }]);
      });
    });

    it('pages an account history newest first and filters the journal', async () => {
      for (let i = 0; i < 5; i++) await mint(agentAccount('scout'), 10 + i, `p-${i}`);
      await ledger.transfer({ from: MINT, to: agentAccount('scout'), amount: 7, reason: 'reward', source: 'human:ann', idempotencyKey: 'r-1', postId: 'post_1' });
      const page1 = await store.ledger.history({ account: 'agent:scout', limit: 4 });
      const page2 = await store.ledger.history({ account: 'agent:scout', limit: 4, before: page1[3]!.id });
      expect(page1.map((x) => x.amount)).toEqual([7, 14, 13, 12]);
      expect(page2.map((x) => x.amount)).toEqual([11, 10]);
      expect((await store.ledger.list({ reason: 'deposit_credit', limit: 50 })).map((x) => x.idempotencyKey)).toEqual(['p-4', 'p-3', 'p-2', 'p-1', 'p-0']);
      expect((await store.ledger.list({ sourcePrefix: 'human:', limit: 50 })).map((x) => x.postId)).toEqual(['post_1']);
      expect((await store.ledger.list({ postId: 'post_1', limit: 50 })).map((x) => x.reason)).toEqual(['reward']);
    });

    // Random programs of deposits, rewards, transfers, spends, penalties and refunds, with
    // repeated keys. Run sequentially they must match a plain model exactly; run all at once
    // (every interleaving the store allows) the invariants must still hold.
    const accounts = ['a', 'b', 'c'];
    const opArb = fc.record({
      kind: fc.constantFrom('deposit', 'reward', 'transfer', 'spend', 'penalty', 'refund'),
      x: fc.integer({ min: 0, max: 2 }),
      y: fc.integer({ min: 0, max: 2 }),
      amount: fc.integer({ min: 1, max: 400 }),
      key: fc.integer({ min: 0, max: 12 }),
    });
    type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;
    let run = 0;
    const toRequest = (op: Op, ns: string) => {
      const acct = (i: number) => agentAccount(`${ns}-${accounts[i]}`);
      const h = humanAccount(`${ns}-ann`);
      const [from, to, reason]: [AccountId, AccountId, LedgerReason] =
        op.kind === 'deposit' ? [MINT, acct(op.x), 'deposit_credit']
        : op.kind === 'reward' ? [MINT, acct(op.x), 'reward']
        : op.kind === 'transfer' ? [acct(op.x), op.x === op.y ? h : acct(op.y), 'transfer']
        : op.kind === 'spend' ? [acct(op.x), FEES, 'llm_usage']
        : op.kind === 'penalty' ? [acct(op.x), MINT, 'penalty']
        : [FEES, acct(op.x), 'refund'];
      // The key carries the content for half the ops, so repeats are true retries; the
      // rest reuse keys across different content, which must be refused as a conflict.
      const key = op.key % 2 === 0 ? `${ns}-${op.kind}-${op.x}-${op.y}-${op.amount}` : `${ns}-k${op.key}`;
      return { from, to, amount: op.amount, reason, source: 'test', idempotencyKey: key };
    };

    it('property: sequential programs match the model; sum zero, floors hold, keys apply once', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
          const ns = `s${run++}`;
          // The mint and fees are shared by every run: start the model from their balances now.
          const before = await store.ledger.balances();
          const model = new Map<string, number>([MINT, FEES].map((a) => [a, before.get(a) ?? 0]));
          const seen = new Map<string, string>();
          for (const op of ops) {
            const r = toRequest(op, ns);
            const content = JSON.stringify([r.from, r.to, r.amount, r.reason]);
            const bal = (a: string) => model.get(a) ?? 0;
            const outcome = await ledger.transfer(r).then((o) => (o.applied ? 'applied' : 'repeat'), (e: { code?: string }) => e.code ?? 'thrown');
            let expected: string;
            if (seen.has(r.idempotencyKey)) expected = seen.get(r.idempotencyKey) === content ? 'repeat' : 'idempotency_conflict';
            else if (r.from !== MINT && bal(r.from) - r.amount < 0) expected = 'insufficient_funds';
            else {
              expected = 'applied';
              seen.set(r.idempotencyKey, content);
              model.set(r.from, bal(r.from) - r.amount);
              model.set(r.to, bal(r.to) + r.amount);
            }
            expect(outcome, JSON.stringify(r)).toBe(expected);
          }
          const actual = await store.ledger.balances();
          for (const [account, amount] of model) expect(actual.get(account) ?? 0, account).toBe(amount);
          expect(await sumOfAll()).toBe(0);
        }),
        { numRuns: 15 },
      );
    });

    it('property: concurrent programs keep the sum zero, every floor, and one transaction per key', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
          const ns = `c${run++}`;
          const requests = ops.map((op) => toRequest(op, ns));
          const settled = await Promise.allSettled(requests.map((r) => ledger.transfer(r)));
          for (const s of settled) {
            if (s.status === 'rejected') expect(['insufficient_funds', 'idempotency_conflict']).toContain((s.reason as FlockError).code);
          }
          const balances = await store.ledger.balances();
          for (const [account, amount] of balances) if (account !== MINT) expect(amount, account).toBeGreaterThanOrEqual(0);
          expect(await sumOfAll()).toBe(0);
          const keys = new Set(requests.map((r) => r.idempotencyKey));
          for (const key of keys) {
            const applied = settled.filter((s, i) => s.status === 'fulfilled' && s.value.applied && requests[i]!.idempotencyKey === key);
            expect(applied.length, key).toBeLessThanOrEqual(1);
            const txn = await store.ledger.byKey(key);
            expect(Boolean(txn), key).toBe(applied.length === 1);
            if (txn) expect((await store.ledger.entries(txn.id)).reduce((a, e) => a + e.amount, 0)).toBe(0);
          }
        }),
        { numRuns: 15 },
      );
    });
  });
}
