import type { Kysely, Migration } from 'kysely';

export const m0005Sandbox = (): Migration => ({
  async up(db: Kysely<unknown>) {
    // Sealed values only (AES-256-GCM, key outside the database).
    await db.schema
      .createTable('secrets')
      .addColumn('name', 'varchar(100)', (c) => c.primaryKey())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .execute();
  },
});
