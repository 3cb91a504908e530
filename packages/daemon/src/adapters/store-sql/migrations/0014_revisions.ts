import type { Kysely, Migration } from 'kysely';

/** Agent revisions (history, rollback, deploy by digest or CID): one row per changing deploy. */
export const m0014Revisions = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('agent_revisions')
      .addColumn('agent', 'varchar(64)', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('digest', 'varchar(80)', (c) => c.notNull())
      .addColumn('cid', 'varchar(128)', (c) => c.notNull())
      .addColumn('document', 'text', (c) => c.notNull())
      .addColumn('overrides', 'text', (c) => c.notNull())
      .addColumn('cause', 'varchar(16)', (c) => c.notNull())
      .addColumn('from_revision', 'integer')
      .addColumn('changes', 'text', (c) => c.notNull())
      .addColumn('deployed_by', 'varchar(200)')
      .addColumn('deployed_at', 'varchar(32)', (c) => c.notNull())
      .addPrimaryKeyConstraint('agent_revisions_pk', ['agent', 'revision'])
      .execute();
    await db.schema.createIndex('agent_revisions_digest').on('agent_revisions').columns(['digest']).execute();
  },
});
