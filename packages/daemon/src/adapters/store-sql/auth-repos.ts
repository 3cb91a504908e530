import type { Kysely, Selectable } from 'kysely';
import type { AuthStore, JobEventType, TokenRecord } from '@aiflock/core';
import type { Database, TokensTable } from './tables.js';
import type { Writer } from './group-commit.js';
import { prepared } from './prepared.js';

// Every API request reads its token, and every task writes job events: compiled once per shape (prepared.ts).
const tokenByHash = prepared((db, k: { hash: string }) => db.selectFrom('tokens').selectAll().where('hash', '=', k.hash));
const insertJobEvents = prepared((db, v: { rows: { job_id: string; type: string; ts: string; payload: string }[] }) => db.insertInto('job_events').values(v.rows));

/** Token, session and job-event repositories over any Kysely backend; job events are written through `write` (group commit) when given. */
export function authRepos(db: () => Kysely<Database>, write: Writer = (op) => op(db())): AuthStore {
  const tokens: AuthStore['tokens'] = {
    insert: async (r) => {
      await db()
        .insertInto('tokens')
        .values({
          id: r.id,
          name: r.name,
          hash: r.hash,
          scopes: JSON.stringify(r.scopes),
          created_at: r.createdAt,
          last_used_at: r.lastUsedAt,
          expires_at: r.expiresAt,
          revoked: r.revoked ? 1 : 0,
        })
        .execute();
    },
    get: async (id) => {
      const row = await db().selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toToken(row);
    },
    getByHash: async (hash) => {
      const [row] = (await tokenByHash(db(), { hash })).rows;
      return row && toToken(row);
    },
    list: async () => (await db().selectFrom('tokens').selectAll().orderBy('created_at').orderBy('id').execute()).map(toToken),
    count: async () => {
      const row = await db()
        .selectFrom('tokens')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    revoke: async (id) => {
      const row = await db().updateTable('tokens').set({ revoked: 1 }).where('id', '=', id).returningAll().executeTakeFirst();
      if (row) await db().deleteFrom('sessions').where('token_id', '=', id).execute();
      return row && toToken(row);
    },
    touch: async (id, at) => {
      await db().updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
    },
  };

  const sessions: AuthStore['sessions'] = {
    insert: async (r) => {
      await db()
        .insertInto('sessions')
        .values({ hash: r.hash, token_id: r.tokenId, csrf_token: r.csrfToken, created_at: r.createdAt, expires_at: r.expiresAt })
        .execute();
    },
    getByHash: async (hash) => {
      const row = await db().selectFrom('sessions').selectAll().where('hash', '=', hash).executeTakeFirst();
      return row && { hash: row.hash, tokenId: row.token_id, csrfToken: row.csrf_token, createdAt: row.created_at, expiresAt: row.expires_at };
    },
    remove: async (hash) => {
      await db().deleteFrom('sessions').where('hash', '=', hash).execute();
    },
  };

  const jobEvents: AuthStore['jobEvents'] = {
    append: async (events) => {
      if (events.length === 0) return;
      const rows = events.map((e) => ({ job_id: e.jobId, type: e.type, ts: e.ts, payload: JSON.stringify(e.payload ?? null) }));
      await write((db) => insertJobEvents(db, { rows }));
    },
    list: async (f) => {
      let q = db().selectFrom('job_events').selectAll().where('job_id', '=', f.jobId);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      const rows = await q.orderBy('seq').limit(f.limit).execute();
      return rows.map((r) => ({ seq: Number(r.seq), jobId: r.job_id, type: r.type as JobEventType, ts: r.ts, payload: JSON.parse(r.payload) as unknown }));
    },
  };

  return { tokens, sessions, jobEvents };
}

function toToken(r: Selectable<TokensTable>): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    scopes: JSON.parse(r.scopes) as string[],
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
    revoked: Number(r.revoked) === 1,
  };
}
