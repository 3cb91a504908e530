import type { Kysely, Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

/**
 * Tokens and browser sessions (auth), and each job's resumable stream of events.
 */
export const m0003Auth = (backend: SqlBackend): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('tokens')
      .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('name', 'varchar(100)', (c) => c.notNull())
      .addColumn('hash', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('last_used_at', 'varchar(32)')
      .addColumn('expires_at', 'varchar(32)')
      .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('hash', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('token_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('csrf_token', 'varchar(100)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('job_events')
      .addColumn('seq', backend.identity.type, (c) => backend.identity.modify(c.primaryKey()))
      .addColumn('job_id', 'varchar(48)', (c) => c.notNull())
      .addColumn('type', 'varchar(16)', (c) => c.notNull())
      .addColumn('ts', 'varchar(32)', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('job_events_job').on('job_events').columns(['job_id', 'seq']).execute();
  },
});
