import type { LedgerTxn } from '@aiflock/protocol';
export type { LedgerTxn } from '@aiflock/protocol';

export interface LedgerEntry {
  seq: number;
  txnId: string;
  account: string;
  /** Signed cents: negative on the debited account. */
  amount: number;
}

/**
 * A limit checked atomically with the insert: the sum of matching transactions' amounts
 * plus this one must not exceed `max` (per-person daily reward limits, per-post caps).
 */
export interface LedgerCap {
  name: string;
  max: number;
  reasons: string[];
  source?: string;
  postId?: string;
  since?: string;
}

export type LedgerPostResult =
  | { kind: 'inserted'; txn: LedgerTxn; balanceAfter: number }
  | { kind: 'existing'; txn: LedgerTxn }
  | { kind: 'conflict'; txn: LedgerTxn }
  | { kind: 'insufficient'; balance: number }
  | { kind: 'capped'; cap: LedgerCap; used: number };

export interface LedgerHistoryFilter {
  account: string;
  /** Transactions older than this id (paging newest first). */
  before?: string;
  limit: number;
}

export interface LedgerListFilter {
  reason?: string;
  /** Transactions whose source starts with this prefix. */
  sourcePrefix?: string;
  postId?: string;
  to?: string;
  from?: string;
  since?: string;
  before?: string;
  limit: number;
}

export interface LedgerStore {
  /**
   * Atomically: if a transaction with the key exists, report it (`existing` when its hash
   * matches, else `conflict`); otherwise, if `fromFloor` is set and the debited account's
   * balance minus the amount would fall below it, report `insufficient`; if a cap would be
   * exceeded, report `capped`; otherwise insert the
   * transaction and its two entries. Serialised against every other post, so concurrent
   * spends cannot overdraw.
   */
  post(txn: LedgerTxn, fromFloor: number | null, caps?: readonly LedgerCap[]): Promise<LedgerPostResult>;
  balance(account: string): Promise<number>;
  /** Every account's balance derived from the entries. */
  balances(): Promise<Map<string, number>>;
  /** Transactions touching `account`, newest first. */
  history(filter: LedgerHistoryFilter): Promise<LedgerTxn[]>;
  list(filter: LedgerListFilter): Promise<LedgerTxn[]>;
  byKey(key: string): Promise<LedgerTxn | undefined>;
  entries(txnId: string): Promise<LedgerEntry[]>;
  /** Every transaction with its entries, oldest first, read in pages (for verification). */
  scan(): AsyncIterable<{ txn: LedgerTxn; entries: LedgerEntry[] }>;
}
