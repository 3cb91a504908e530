import * as z from 'zod';
import { Entitlements } from './compute.js';

/**
 * One ledger transaction: `amount` cents move from `from` to `to`. Stored as two immutable
 * entries (-amount on `from`, +amount on `to`); balances are sums of entries.
 */
export const LedgerTxn = z.object({
  id: z.string(),
  /** Unique: the same key twice is one transaction. */
  idempotencyKey: z.string(),
  /** Hash of the transaction's content, to tell a retry from a different request with the same key. */
  requestHash: z.string(),
  from: z.string(),
  to: z.string(),
  amount: z.number().int(),
  reason: z.string(),
  /** Who or what caused it: `human:<id>`, `system`, `payment:<txn id>`, `gateway`... */
  source: z.string(),
  postId: z.string().nullable(),
  correlationId: z.string().nullable(),
  /** Reason-specific facts (a compute purchase's tier and period, usage token counts). */
  meta: z.unknown(),
  createdAt: z.string(),
});
export type LedgerTxn = z.infer<typeof LedgerTxn>;

/** A transaction as one agent's ledger shows it: the amount signed from that agent's side. */
export const LedgerLine = LedgerTxn.pick({ id: true, amount: true, reason: true, source: true, postId: true, correlationId: true, meta: true, createdAt: true }).extend({
  /** The other side of the transaction. */
  counterparty: z.string(),
});
export type LedgerLine = z.infer<typeof LedgerLine>;

/** `GET /v1/economy/ledger/{agent}`: newest first; `next` pages on. */
export const LedgerPage = z.object({ agent: z.string(), transactions: z.array(LedgerLine), next: z.string().nullable() });
export type LedgerPage = z.infer<typeof LedgerPage>;

/** A reward, penalty or credit: the transaction, and whether this call applied it (false: a retry). */
export const LedgerOutcome = z.object({ txn: LedgerTxn, applied: z.boolean() });
export const RewardOutcome = LedgerOutcome.extend({ balance: z.number().int() });
export const PurchaseOutcome = LedgerOutcome.extend({ entitlements: Entitlements });

export const ReconciliationLine = z.object({
  ledgerTxn: z.string(),
  paymentTxnId: z.string(),
  agent: z.string(),
  amount: z.number().int(),
  via: z.string(),
  note: z.string().nullable(),
  createdAt: z.string(),
});
export type ReconciliationLine = z.infer<typeof ReconciliationLine>;
export const Reconciliation = z.object({ credits: z.array(ReconciliationLine), totals: z.record(z.string(), z.number()), total: z.number() });

export const LedgerProblem = z.object({ txn: z.string(), problem: z.string() });
export type LedgerProblem = z.infer<typeof LedgerProblem>;
export const LedgerVerdict = z.object({
  ok: z.boolean(),
  transactions: z.number().int(),
  /** Sum of every entry; zero in an untampered ledger. */
  sum: z.number(),
  problems: z.array(LedgerProblem),
});
export type LedgerVerdict = z.infer<typeof LedgerVerdict>;

export const ReconciliationQuery = z.object({ since: z.iso.datetime({ offset: true }).optional() }).strict();
