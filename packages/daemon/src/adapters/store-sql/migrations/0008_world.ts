import type { Kysely, Migration } from 'kysely';

export const m0008World = (): Migration => ({
  async up(db: Kysely<unknown>) {
    // The latest snapshot of the village (one row) and the inputs applied since, per tick.
    await db.schema
      .createTable('world_snapshots')
      .addColumn('id', 'varchar(16)', (c) => c.primaryKey())
      .addColumn('tick', 'bigint', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('world_inputs')
      .addColumn('tick', 'bigint', (c) => c.primaryKey())
      .addColumn('inputs', 'text', (c) => c.notNull())
      .execute();
  },
});
