import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { SqlBackend } from './dialect.js';

/**
 * Versioned migrations, shared by every backend. Append new ones; never edit one that has
 * shipped.
 */
function migrations(backend: SqlBackend): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('deployments')
          .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('digest', 'varchar(80)', (c) => c.notNull())
          .addColumn('manifest', 'text', (c) => c.notNull())
          .addColumn('replicas', 'integer', (c) => c.notNull())
          .addColumn('state', 'varchar(16)', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('tasks')
          .addColumn('id', 'varchar(48)', (c) => c.primaryKey())
          .addColumn('agent', 'varchar(64)', (c) => c.notNull())
          .addColumn('type', 'varchar(64)', (c) => c.notNull())
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('input', 'text', (c) => c.notNull())
          .addColumn('result', 'text')
          .addColumn('output', 'text')
          .addColumn('error', 'text')
          .addColumn('attempt', 'integer', (c) => c.notNull())
          .addColumn('max_attempts', 'integer', (c) => c.notNull())
          .addColumn('instance_id', 'varchar(64)')
          .addColumn('idempotency_key', 'varchar(200)')
          .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('started_at', 'varchar(32)')
          .addColumn('finished_at', 'varchar(32)')
          .addColumn('deadline', 'varchar(32)', (c) => c.notNull())
          .addColumn('queue_seq', 'bigint')
          .execute();
        await db.schema.createIndex('tasks_idempotency').unique().on('tasks').columns(['agent', 'idempotency_key']).execute();
        await db.schema.createIndex('tasks_agent_id').on('tasks').columns(['agent', 'id']).execute();
        await db.schema.createIndex('tasks_status_deadline').on('tasks').columns(['status', 'deadline']).execute();
        await db.schema
          .createTable('instances')
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('agent', 'varchar(64)', (c) => c.notNull())
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('handle', 'varchar(128)')
          .addColumn('node', 'varchar(128)', (c) => c.notNull())
          .addColumn('started_at', 'varchar(40)')
          .addColumn('last_heartbeat_at', 'varchar(32)')
          .addColumn('exit_code', 'integer')
          .addColumn('oom_killed', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createTable('logs')
          .addColumn('seq', backend.identity.type, (c) => backend.identity.modify(c.primaryKey()))
          .addColumn('ts', 'varchar(32)', (c) => c.notNull())
          .addColumn('level', 'varchar(8)', (c) => c.notNull())
          .addColumn('msg', 'text', (c) => c.notNull())
          .addColumn('agent', 'varchar(64)', (c) => c.notNull())
          .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('task_id', 'varchar(48)')
          .execute();
        await db.schema.createIndex('logs_task').on('logs').columns(['task_id', 'seq']).execute();
        await db.schema.createIndex('logs_agent').on('logs').columns(['agent', 'seq']).execute();
      },
    },
    '0002_audit': {
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
    },
    '0007_memory': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('context_collections')
          .addColumn('name', 'varchar(63)', (c) => c.primaryKey())
          .addColumn('model', 'varchar(200)', (c) => c.notNull())
          .addColumn('dimension', 'integer', (c) => c.notNull())
          .addColumn('shared_with', 'text', (c) => c.notNull())
          .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('context_documents')
          .addColumn('collection', 'varchar(63)', (c) => c.notNull())
          .addColumn('id', 'varchar(300)', (c) => c.notNull())
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          .addColumn('source', 'varchar(500)', (c) => c.notNull())
          .addColumn('title', 'varchar(300)')
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('owner', 'varchar(200)')
          .addColumn('content_hash', 'varchar(64)', (c) => c.notNull())
          .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
          .addPrimaryKeyConstraint('context_documents_pk', ['collection', 'id'])
          .execute();
        await db.schema
          .createTable('context_chunks')
          .addColumn('collection', 'varchar(63)', (c) => c.notNull())
          .addColumn('id', 'varchar(320)', (c) => c.notNull())
          .addColumn('document_id', 'varchar(300)', (c) => c.notNull())
          .addColumn('ord', 'integer', (c) => c.notNull())
          .addColumn('heading', 'text')
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('tokens', 'integer', (c) => c.notNull())
          .addColumn('model', 'varchar(200)', (c) => c.notNull())
          .addColumn('embedding', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('context_chunks_pk', ['collection', 'id'])
          .execute();
        await db.schema.createIndex('context_chunks_document').on('context_chunks').columns(['collection', 'document_id', 'ord']).execute();
        await db.schema
          .createTable('agent_memories')
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('agent', 'varchar(64)', (c) => c.notNull())
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('importance', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
          .addColumn('last_accessed_at', 'varchar(40)', (c) => c.notNull())
          .addColumn('model', 'varchar(200)', (c) => c.notNull())
          .addColumn('embedding', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('agent_memories_agent').on('agent_memories').columns(['agent', 'created_at']).execute();
      },
    },
  };
}

export async function migrateToLatest(backend: SqlBackend): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(backend) };
  const migrator = new Migrator({ db: backend.db, provider, migrationTableName: 'aiflock_migrations', migrationLockTableName: 'aiflock_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new Error(`store migration failed: ${String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** A trivial round trip, for readiness. */
export async function pingSql(backend: SqlBackend): Promise<void> {
  await sql`select 1`.execute(backend.db);
}
