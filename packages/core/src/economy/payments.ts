import type { ReconciliationLine } from '@aiflock/protocol';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { FlockError } from '../errors.js';
import type { LedgerStore, LedgerTxn } from '../ports/ledger.js';
import { agentAccount, MINT } from './accounts.js';
import type { Ledger } from './ledger.js';

export interface Credit {
  agent: string;
  amount: number;
  paymentTxnId: string;
  via: 'manual' | 'webhook';
  actor: string;
  note?: string | undefined;
  eventId?: string | undefined;
  requestId?: string | undefined;
}

export type { ReconciliationLine } from '@aiflock/protocol';

/**
 * Deposits: money that arrived outside (a payment) credited as aiDollars. Idempotent on the
 * payment's transaction id, whichever way it arrives, so a manual credit and a webhook for
 * the same payment can never both apply. There is no way out: nothing here debits an agent.
 */
export class PaymentsService {
  constructor(private readonly deps: { ledger: Ledger; ledgerStore: LedgerStore }) {}

  credit(c: Credit): Promise<{ txn: LedgerTxn; applied: boolean }> {
    return this.deps.ledger.transfer({
      from: MINT,
      to: agentAccount(c.agent),
      amount: c.amount,
      reason: 'deposit_credit',
      source: `payment:${c.paymentTxnId}`,
      actor: c.actor,
      idempotencyKey: `payment:${c.paymentTxnId}`,
      correlationId: c.eventId ?? null,
      meta: { via: c.via, note: c.note ?? null },
      ...(c.requestId ? { requestId: c.requestId } : {}),
    });
  }

  /** Every credit since `since`, newest first, with totals by how it arrived. */
  async reconciliation(since?: string): Promise<{ credits: ReconciliationLine[]; totals: Record<string, number>; total: number }> {
    const txns = await this.deps.ledgerStore.list({ reason: 'deposit_credit', ...(since ? { since } : {}), limit: 10_000 });
    const credits = txns.map((t) => {
      const m = (t.meta ?? {}) as { via?: string; note?: string | null };
      return { ledgerTxn: t.id, paymentTxnId: t.source.replace(/^payment:/, ''), agent: t.to.replace(/^agent:/, ''), amount: t.amount, via: m.via ?? 'unknown', note: m.note ?? null, createdAt: t.createdAt };
    });
    const totals: Record<string, number> = {};
    for (const c of credits) totals[c.via] = (totals[c.via] ?? 0) + c.amount;
    return { credits, totals, total: credits.reduce((n, c) => n + c.amount, 0) };
  }
}

/**
 * Verify a signed webhook: `signature` is `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
 * and `timestamp` (unix seconds) is within `toleranceSeconds` of now, so a captured request
 * cannot be replayed later. Constant-time comparison.
 */
export function verifyWebhookSignature(p: { secret: string; timestamp: string | undefined; signature: string | undefined; body: string; now: Date; toleranceSeconds: number }): void {
  if (!p.timestamp || !/^\d{1,12}$/.test(p.timestamp)) throw new FlockError('signature_invalid', 'missing or malformed X-Flock-Timestamp (unix seconds)');
  if (!p.signature || !/^sha256=[0-9a-f]{64}$/.test(p.signature)) throw new FlockError('signature_invalid', 'missing or malformed X-Flock-Signature (sha256=<hex>)');
  const skew = Math.abs(p.now.getTime() / 1000 - Number(p.timestamp));
  if (skew > p.toleranceSeconds) throw new FlockError('signature_invalid', `timestamp is ${Math.round(skew)} s away from now (tolerance ${p.toleranceSeconds} s): replay or clock skew`);
  const expected = createHmac('sha256', p.secret).update(`${p.timestamp}.${p.body}`).digest();
  const given = Buffer.from(p.signature.slice(7), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new FlockError('signature_invalid', 'signature does not match the body');
}

/** The header value a sender computes (used by tests and by anyone writing a sender). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
