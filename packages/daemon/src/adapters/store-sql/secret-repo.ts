import type { Kysely } from 'kysely';
import type { Store } from '@aiflock/core';
import type { Database } from './tables.js';

/** Sealed secrets by name, on any Kysely backend; the store never sees a plain value. */
export function secretRepo(db: Kysely<Database>): Store['secrets'] {
  return {
    put: async (r) => {
      const row = { name: r.name, sealed: r.sealed, created_at: r.createdAt, updated_at: r.updatedAt };
      await db
        .insertInto('secrets')
        .values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet({ sealed: row.sealed, updated_at: row.updated_at }))
        .execute();
    },
    get: async (name) => {
      const row = await db.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst();
      return row && { name: row.name, sealed: row.sealed, createdAt: row.created_at, updatedAt: row.updated_at };
    },
    list: async () =>
      (await db.selectFrom('secrets').select(['name', 'created_at', 'updated_at']).orderBy('name').execute()).map((r) => ({
        name: r.name,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      })),
    remove: async (name) => {
      const res = await db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
