import type { Kysely } from 'kysely';
import type { ComputeControlStore } from '@aiflock/core';
import type { Database } from './tables.js';

/** Admins' per-agent compute freezes, on any Kysely backend. */
export function computeControlRepo(db: Kysely<Database>): ComputeControlStore {
  return {
    get: async (agent) => {
      const r = await db.selectFrom('compute_controls').selectAll().where('agent', '=', agent).executeTakeFirst();
      return r && { agent: r.agent, frozen: r.frozen === 1, note: r.note, updatedBy: r.updated_by, updatedAt: r.updated_at };
    },
    set: async (c) => {
      const row = { agent: c.agent, frozen: c.frozen ? 1 : 0, note: c.note, updated_by: c.updatedBy, updated_at: c.updatedAt };
      await db
        .insertInto('compute_controls')
        .values(row)
        .onConflict((oc) => oc.column('agent').doUpdateSet({ ...row }))
        .execute();
    },
  };
}
