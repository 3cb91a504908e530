import type { LedgerProblem, LedgerVerdict } from '@aiflock/protocol';
import type { AuditStore } from '../ports/audit.js';
import type { LedgerStore } from '../ports/ledger.js';

export type { LedgerProblem, LedgerVerdict } from '@aiflock/protocol';

/**
 * Check the ledger against itself and against the audit log: every transaction is exactly
 * two entries (−amount on `from`, +amount on `to`), the entries sum to zero, and every
 * transaction matches the audit entry recorded when it was applied, and vice versa. The
 * audit log is hash-chained, so an attacker who edits the ledger tables directly (even
 * consistently) cannot make them agree with it without breaking the chain.
 */
export async function verifyLedger(ledger: LedgerStore, audit: AuditStore, limit = 100): Promise<LedgerVerdict> {
  const audited = new Map<string, { action: string; details: Record<string, unknown> }>();
  for await (const e of audit.scan()) {
    if (e.action.startsWith('ledger.') && e.resource.startsWith('ledger/') && e.outcome === 'ok') {
      audited.set(e.resource.slice(7), { action: e.action, details: (e.details ?? {}) as Record<string, unknown> });
    }
  }
  const problems: LedgerProblem[] = [];
  const report = (txn: string, problem: string) => {
    if (problems.length < limit) problems.push({ txn, problem });
  };
  let transactions = 0;
  let sum = 0;
  for await (const { txn, entries } of ledger.scan()) {
    transactions++;
    for (const e of entries) sum += e.amount;
    const debit = entries.filter((e) => e.account === txn.from && e.amount === -txn.amount);
    const credit = entries.filter((e) => e.account === txn.to && e.amount === txn.amount);
    if (entries.length !== 2 || debit.length !== 1 || credit.length !== 1) {
      report(txn.id, `entries do not match the transaction (${txn.from} -> ${txn.to} ${txn.amount}): ${entries.map((e) => `${e.account} ${e.amount}`).join(', ')}`);
    }
    const a = audited.get(txn.id);
    if (!a) {
      report(txn.id, 'no audit entry records this transaction');
      continue;
    }
    audited.delete(txn.id);
    const d = a.details;
    if (a.action !== `ledger.${txn.reason}` || d['from'] !== txn.from || d['to'] !== txn.to || d['amount'] !== txn.amount || d['key'] !== txn.idempotencyKey) {
      report(txn.id, `differs from its audit entry (audited ${String(d['from'])} -> ${String(d['to'])} ${String(d['amount'])} ${a.action})`);
    }
  }
  for (const id of audited.keys()) report(id, 'audited but missing from the ledger (deleted)');
  if (sum !== 0) report('*', `entries sum to ${sum}, not zero`);
  return { ok: problems.length === 0, transactions, sum, problems };
}
