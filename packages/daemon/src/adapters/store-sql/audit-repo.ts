import { sql, type Selectable } from 'kysely';
import type { AuditEntry, AuditOutcome, AuditStore } from '@aiflock/core';
import type { SqlBackend } from './dialect.js';
import { escapeLike, json, unjson } from './sql-values.js';
import type { AuditTable } from './tables.js';
import type { Writer } from './group-commit.js';
import { prepared } from './prepared.js';

// Every append reads the head and inserts: compiled once (prepared.ts).
const chainHead = prepared((db, _: object) => db.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1));
const insertEntry = prepared((db, row: AuditTable) => db.insertInto('audit_log').values(row));

/**
 * The hash-chained audit log; appends hold the table's write lock to keep the chain linear.
 * With `write` (group commit) an append shares its transaction with other writes; that
 * transaction takes the table's lock first, and the append reads the head inside it.
 */
export function auditRepo(backend: SqlBackend, write?: Writer): AuditStore {
  const db = backend.db;

  async function* scan(): AsyncGenerator<AuditEntry> {
    for (let after = 0; ; ) {
      const rows = await db.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq').limit(500).execute();
      for (const r of rows) yield toAudit(r);
      if (rows.length < 500) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  return {
    append: async (build) => {
      const append = async (trx: typeof db) => {
        const [last] = (await chainHead(trx, {})).rows;
        const entry = build(last ? { seq: Number(last.seq), hash: last.hash } : null);
        await insertEntry(trx, fromAudit(entry));
        return entry;
      };
      return write ? write(append, { lock: 'audit_log' }) : backend.exclusive('audit_log', append);
    },
    list: async (f) => {
      let q = db.selectFrom('audit_log').selectAll();
      if (f.actor) q = q.where('actor', '=', f.actor);
      if (f.action) q = q.where('action', '=', f.action);
      if (f.resource) q = f.resource.endsWith('*') ? q.where(sql<boolean>`resource like ${`${escapeLike(f.resource.slice(0, -1))}%`} escape '\\'`) : q.where('resource', '=', f.resource);
      if (f.since) q = q.where('ts', '>=', f.since);
      if (f.until) q = q.where('ts', '<', f.until);
      if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      return (await q.orderBy('seq', f.ascending ? 'asc' : 'desc').limit(f.limit).execute()).map(toAudit);
    },
    scan,
    byHash: async (hash) => {
      const row = await db.selectFrom('audit_log').selectAll().where('hash', '=', hash).executeTakeFirst();
      return row && toAudit(row);
    },
  };
}

/** An entry as its row (exported for tests that put a tampered table back as it was). */
export function fromAudit(e: AuditEntry): AuditTable {
  return {
    seq: e.seq,
    ts: e.ts,
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome,
    request_id: e.requestId,
    correlation_id: e.correlationId,
    details: json(e.details),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

function toAudit(r: Selectable<AuditTable>): AuditEntry {
  return {
    seq: Number(r.seq),
    ts: r.ts,
    actor: r.actor,
    action: r.action,
    resource: r.resource,
    outcome: r.outcome as AuditOutcome,
    requestId: r.request_id,
    correlationId: r.correlation_id,
    details: unjson(r.details),
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
