import { sql, type Kysely, type Selectable } from 'kysely';
import type { LedgerEntry, LedgerStore, LedgerTxn } from '@aiflock/core';
import type { SqlBackend } from './dialect.js';
import { escapeLike, json, unjson } from './sql-values.js';
import type { Database, LedgerTxnsTable } from './tables.js';

/** The aiDollar ledger: transactions and their double entries, on any Kysely backend. */
export function ledgerRepo(backend: SqlBackend): LedgerStore {
  const db = backend.db;

  async function* scan(): AsyncGenerator<{ txn: LedgerTxn; entries: LedgerEntry[] }> {
    for (let after = ''; ; ) {
      const rows = await db.selectFrom('ledger_txns').selectAll().where('id', '>', after).orderBy('id').limit(500).execute();
      if (rows.length === 0) return;
      const ids = rows.map((r) => r.id);
      const entries = await db.selectFrom('ledger_entries').selectAll().where('txn_id', 'in', ids).orderBy('seq').execute();
      const byTxn = new Map<string, LedgerEntry[]>();
      for (const e of entries) {
        const list = byTxn.get(e.txn_id) ?? [];
        list.push({ seq: Number(e.seq), txnId: e.txn_id, account: e.account, amount: Number(e.amount) });
        byTxn.set(e.txn_id, list);
      }
      for (const r of rows) yield { txn: toLedgerTxn(r), entries: byTxn.get(r.id) ?? [] };
      if (rows.length < 500) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  return {
    post: async (txn, fromFloor, caps = []) =>
      // One writer of the ledger at a time (a table lock on PostgreSQL, the single connection
      // on SQLite): the key lookup, the floor check and the insert see the same state.
      backend.exclusive('ledger_entries', async (trx) => {
        const existing = await trx.selectFrom('ledger_txns').selectAll().where('idempotency_key', '=', txn.idempotencyKey).executeTakeFirst();
        if (existing) {
          const found = toLedgerTxn(existing);
          return { kind: found.requestHash === txn.requestHash ? ('existing' as const) : ('conflict' as const), txn: found };
        }
        const balance = await sumFor(trx, txn.from);
        if (fromFloor !== null && balance - txn.amount < fromFloor) return { kind: 'insufficient' as const, balance };
        for (const cap of caps) {
          let q = trx.selectFrom('ledger_txns').select((eb) => eb.fn.sum<string | number | null>('amount').as('total')).where('reason', 'in', cap.reasons);
          if (cap.source !== undefined) q = q.where('source', '=', cap.source);
          if (cap.postId !== undefined) q = q.where('post_id', '=', cap.postId);
          if (cap.since !== undefined) q = q.where('created_at', '>=', cap.since);
          const used = Number((await q.executeTakeFirst())?.total ?? 0);
          if (used + txn.amount > cap.max) return { kind: 'capped' as const, cap, used };
        }
        await trx.insertInto('ledger_txns').values(fromLedgerTxn(txn)).execute();
        await trx
          .insertInto('ledger_entries')
          .values([
            { txn_id: txn.id, account: txn.from, amount: -txn.amount },
            { txn_id: txn.id, account: txn.to, amount: txn.amount },
          ])
          .execute();
        return { kind: 'inserted' as const, txn, balanceAfter: balance - txn.amount };
      }),
    balance: async (account) => sumFor(db, account),
    balances: async () => {
      const rows = await db
        .selectFrom('ledger_entries')
        .select(['account', (eb) => eb.fn.sum<string | number>('amount').as('total')])
        .groupBy('account')
        .execute();
      return new Map(rows.map((r) => [r.account, Number(r.total)]));
    },
    history: async (f) => {
      let q = db
        .selectFrom('ledger_txns')
        .selectAll()
        .where((eb) => eb.or([eb('from_account', '=', f.account), eb('to_account', '=', f.account)]));
      if (f.before) q = q.where('id', '<', f.before);
      return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toLedgerTxn);
    },
    list: async (f) => {
      let q = db.selectFrom('ledger_txns').selectAll();
      if (f.reason) q = q.where('reason', '=', f.reason);
      if (f.sourcePrefix) q = q.where(sql<boolean>`source like ${`${escapeLike(f.sourcePrefix)}%`} escape '\\'`);
      if (f.postId) q = q.where('post_id', '=', f.postId);
      if (f.to) q = q.where('to_account', '=', f.to);
      if (f.from) q = q.where('from_account', '=', f.from);
      if (f.since) q = q.where('created_at', '>=', f.since);
      if (f.before) q = q.where('id', '<', f.before);
      return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toLedgerTxn);
    },
    byKey: async (key) => {
      const row = await db.selectFrom('ledger_txns').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
      return row && toLedgerTxn(row);
    },
    scan,
    entries: async (txnId) =>
      (await db.selectFrom('ledger_entries').selectAll().where('txn_id', '=', txnId).orderBy('seq').execute()).map((r) => ({
        seq: Number(r.seq),
        txnId: r.txn_id,
        account: r.account,
        amount: Number(r.amount),
      })),
  };
}

/** A balance is the sum of the account's entries (bigint sums come back as strings on PostgreSQL). */
async function sumFor(db: Kysely<Database>, account: string): Promise<number> {
  const row = await db
    .selectFrom('ledger_entries')
    .select((eb) => eb.fn.sum<string | number | null>('amount').as('total'))
    .where('account', '=', account)
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

function fromLedgerTxn(t: LedgerTxn): LedgerTxnsTable {
  return {
    id: t.id,
    idempotency_key: t.idempotencyKey,
    request_hash: t.requestHash,
    from_account: t.from,
    to_account: t.to,
    amount: t.amount,
    reason: t.reason,
    source: t.source,
    post_id: t.postId,
    correlation_id: t.correlationId,
    meta: json(t.meta),
    created_at: t.createdAt,
  };
}

function toLedgerTxn(r: Selectable<LedgerTxnsTable>): LedgerTxn {
  return {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    from: r.from_account,
    to: r.to_account,
    amount: Number(r.amount),
    reason: r.reason,
    source: r.source,
    postId: r.post_id,
    correlationId: r.correlation_id,
    meta: unjson(r.meta),
    createdAt: r.created_at,
  };
}
