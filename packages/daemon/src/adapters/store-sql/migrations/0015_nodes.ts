import type { Kysely, Migration } from 'kysely';

/** Hosts that joined the flock (issue 17), and the join tokens, stored as their sha256 only. */
export const m0015Nodes = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('nodes')
      .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('cordoned', 'integer', (c) => c.notNull())
      .addColumn('draining', 'integer', (c) => c.notNull())
      .addColumn('capacity', 'text')
      .addColumn('joined_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('last_heartbeat_at', 'varchar(32)')
      .addColumn('version', 'varchar(64)')
      .addColumn('credential_id', 'varchar(64)')
      .execute();
    await db.schema
      .createTable('node_join_tokens')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('hash', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('single_use', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('used_at', 'varchar(32)')
      .addColumn('used_by', 'varchar(64)')
      .addColumn('created_by', 'varchar(200)')
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .execute();
  },
});
