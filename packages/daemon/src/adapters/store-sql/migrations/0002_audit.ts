import type { Kysely, Migration } from 'kysely';

export const m0002Audit = (): Migration => ({
  async up(db: Kysely<unknown>) {
    // seq is assigned by the appender under the table lock (not an identity), so it is
    // gap-free and a gap means a deleted entry.
    await db.schema
      .createTable('audit_log')
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('ts', 'varchar(32)', (c) => c.notNull())
      .addColumn('actor', 'varchar(200)', (c) => c.notNull())
      .addColumn('action', 'varchar(100)', (c) => c.notNull())
      .addColumn('resource', 'varchar(300)', (c) => c.notNull())
      .addColumn('outcome', 'varchar(8)', (c) => c.notNull())
      .addColumn('request_id', 'varchar(100)')
      .addColumn('correlation_id', 'varchar(100)')
      .addColumn('details', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('hash', 'varchar(64)', (c) => c.notNull().unique())
      .execute();
    await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'seq']).execute();
    await db.schema.createIndex('audit_log_action').on('audit_log').columns(['action', 'seq']).execute();
    await db.schema.createIndex('audit_log_ts').on('audit_log').columns(['ts']).execute();
  },
});
