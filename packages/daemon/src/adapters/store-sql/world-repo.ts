import type { Kysely } from 'kysely';
import type { WorldStore } from '@aiflock/core';
import type { Database } from './tables.js';

const ID = 'village';

/** The village's snapshot and input log, on any Kysely backend. */
export function worldRepo(db: Kysely<Database>): WorldStore {
  return {
    latestSnapshot: async () => {
      const row = await db.selectFrom('world_snapshots').selectAll().where('id', '=', ID).executeTakeFirst();
      return row && { tick: Number(row.tick), state: JSON.parse(row.state) as unknown };
    },
    saveSnapshot: async (tick, state) => {
      const row = { id: ID, tick, state: JSON.stringify(state) };
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('world_snapshots')
          .values(row)
          .onConflict((oc) => oc.column('id').doUpdateSet({ tick: row.tick, state: row.state }))
          .execute();
        // The snapshot covers these; what is after it stays for the replay.
        await trx.deleteFrom('world_inputs').where('tick', '<=', tick).execute();
      });
    },
    appendInputs: async (tick, inputs) => {
      await db.insertInto('world_inputs').values({ tick, inputs: JSON.stringify(inputs) }).execute();
    },
    inputsAfter: async (tick) => {
      const rows = await db.selectFrom('world_inputs').selectAll().where('tick', '>', tick).orderBy('tick').execute();
      return rows.map((r) => ({ tick: Number(r.tick), inputs: JSON.parse(r.inputs) as unknown[] }));
    },
  };
}
