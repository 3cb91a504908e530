import { createHash } from 'node:crypto';
import { FlockError } from '../errors.js';
import { newSortableId } from '../ids.js';
import { canonicalJson } from '../manifest/digest.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../ports/clock.js';
import type { LedgerCap, LedgerStore, LedgerTxn } from '../ports/ledger.js';
import { floorOf, isAccountId, type AccountId } from './accounts.js';
import { formatAiDollars, isValidAmount, MAX_TRANSFER_CENTS } from './money.js';

/** Why money moved (deposits, rewards, penalties and purchases, plus what the board and the gateway need). */
export const LEDGER_REASONS = [
  'reward',
  'penalty',
  'deposit_credit',
  'purchase_compute',
  'llm_usage',
  'bounty_escrow',
  'bounty_payout',
  'bounty_refund',
  'refund',
  'correction',
  'transfer',
  /** A removed agent's balance, archived or returned to the mint (`agents.onRemove`). */
  'agent_removed',
] as const;
export type LedgerReason = (typeof LEDGER_REASONS)[number];

export interface TransferRequest {
  from: AccountId;
  to: AccountId;
  /** Cents. */
  amount: number;
  reason: LedgerReason;
  source: string;
  /** Same key twice = one transaction; same key, different content = idempotency_conflict. */
  idempotencyKey: string;
  postId?: string | null;
  correlationId?: string | null;
  meta?: unknown;
  /** Limits checked in the same atomic step as the insert. */
  caps?: readonly LedgerCap[];
  /** Who is acting, for the audit log (defaults to the source). */
  actor?: string;
  requestId?: string;
}

export interface TransferOutcome {
  txn: LedgerTxn;
  /** False when the key had already been applied and this call changed nothing. */
  applied: boolean;
}

const KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * The aiDollar ledger: validates a transfer, lets the store apply it atomically (idempotent
 * on its key, never below the debited account's floor), and records every applied
 * transaction in the audit log.
 */
export class Ledger {
  constructor(private readonly deps: { store: LedgerStore; audit: AuditLog; clock: Clock }) {}

  async transfer(r: TransferRequest): Promise<TransferOutcome> {
    validate(r);
    const content = {
      from: r.from,
      to: r.to,
      amount: r.amount,
      reason: r.reason,
      source: r.source,
      postId: r.postId ?? null,
      meta: r.meta ?? null,
    };
    const now = this.deps.clock.now();
    const txn: LedgerTxn = {
      id: newSortableId('lx', now),
      idempotencyKey: r.idempotencyKey,
      requestHash: createHash('sha256').update(canonicalJson(content)).digest('hex'),
      ...content,
      correlationId: r.correlationId ?? null,
      createdAt: now.toISOString(),
    };
    const res = await this.deps.store.post(txn, floorOf(r.from), r.caps);
    switch (res.kind) {
      case 'existing':
        return { txn: res.txn, applied: false };
      case 'conflict':
        throw new FlockError('idempotency_conflict', `idempotency key ${r.idempotencyKey} was already used for a different ledger transaction (${res.txn.id})`, {
          existing: res.txn.id,
        });
      case 'insufficient':
        throw new FlockError(
          'insufficient_funds',
          `${r.from} has ${formatAiDollars(res.balance)} aiDollars; ${r.reason} of ${formatAiDollars(r.amount)} would take it below its floor`,
          { account: r.from, balance: res.balance, amount: r.amount },
        );
      case 'capped':
        throw new FlockError('reward_limit_exceeded', `${res.cap.name}: ${formatAiDollars(res.used)} of ${formatAiDollars(res.cap.max)} aiDollars used; ${formatAiDollars(r.amount)} more is over the limit`, {
          limit: res.cap.max,
          used: res.used,
          cap: res.cap.name,
        });
      case 'inserted':
        // Recorded after the ledger commit: the audit chain has its own lock, and holding both
        // would serialise every audited action behind the ledger.
        await this.deps.audit.record({
          actor: r.actor ?? r.source,
          action: `ledger.${r.reason}`,
          resource: `ledger/${res.txn.id}`,
          outcome: 'ok',
          ...(r.requestId ? { requestId: r.requestId } : {}),
          ...(r.correlationId ? { correlationId: r.correlationId } : {}),
          details: { from: r.from, to: r.to, amount: r.amount, source: r.source, postId: r.postId ?? null, key: r.idempotencyKey, meta: r.meta ?? null },
        });
        return { txn: res.txn, applied: true };
    }
  }

  balance(account: AccountId): Promise<number> {
    return this.deps.store.balance(account);
  }
}

function validate(r: TransferRequest): void {
  const bad = (field: string, message: string, value: unknown) => new FlockError('validation_failed', `${field}: ${message}`, { field, value });
  if (!isAccountId(r.from)) throw bad('from', 'not a ledger account (system:mint, fees, escrow, agent:<name>, human:<id>, archive:<name>@<time>)', r.from);
  if (!isAccountId(r.to)) throw bad('to', 'not a ledger account (system:mint, fees, escrow, agent:<name>, human:<id>, archive:<name>@<time>)', r.to);
  if (r.from === r.to) throw bad('to', 'a transfer needs two different accounts', r.to);
  if (!isValidAmount(r.amount)) throw bad('amount', `a whole number of cents from 1 to ${MAX_TRANSFER_CENTS}`, r.amount);
  if (!(LEDGER_REASONS as readonly string[]).includes(r.reason)) throw bad('reason', `one of ${LEDGER_REASONS.join(', ')}`, r.reason);
  if (!KEY.test(r.idempotencyKey)) throw bad('idempotencyKey', '1-200 printable characters without spaces', r.idempotencyKey);
  if (r.source.length < 1 || r.source.length > 200) throw bad('source', '1-200 characters', r.source);
}
