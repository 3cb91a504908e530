import type { Kysely, Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

export const m0001Initial = (backend: SqlBackend): Migration => ({
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
});
