import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
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
    // Tokens and browser sessions (auth), and each job's resumable stream of events.
    '0003_auth': {
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
    },
    '0004_llm': {
      async up(db: Kysely<unknown>) {
        // One row per gateway call. Cost in millionths of an aiDollar: exact in any backend.
        await db.schema
          .createTable('llm_usage')
          .addColumn('seq', backend.identity.type, (c) => backend.identity.modify(c.primaryKey()))
          .addColumn('correlation_id', 'varchar(100)', (c) => c.notNull())
          .addColumn('ts', 'varchar(32)', (c) => c.notNull())
          .addColumn('caller', 'varchar(128)', (c) => c.notNull())
          .addColumn('agent', 'varchar(64)')
          .addColumn('instance_id', 'varchar(64)')
          .addColumn('model', 'varchar(128)', (c) => c.notNull())
          .addColumn('provider', 'varchar(64)')
          .addColumn('provider_model', 'varchar(256)')
          .addColumn('tokens_in', 'integer', (c) => c.notNull())
          .addColumn('tokens_out', 'integer', (c) => c.notNull())
          .addColumn('cost_micro', 'bigint', (c) => c.notNull())
          .addColumn('latency_ms', 'integer', (c) => c.notNull())
          .addColumn('fallback_used', 'integer', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('outcome', 'varchar(32)', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('llm_usage_agent').on('llm_usage').columns(['agent', 'seq']).execute();
      },
    },
    '0005_sandbox': {
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
    },
    '0006_economy': {
      async up(db: Kysely<unknown>) {
        // Amounts are integer cents (bigint); nothing here is ever updated or deleted.
        await db.schema
          .createTable('ledger_txns')
          .addColumn('id', 'varchar(48)', (c) => c.primaryKey())
          .addColumn('idempotency_key', 'varchar(200)', (c) => c.notNull().unique())
          .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
          .addColumn('from_account', 'varchar(120)', (c) => c.notNull())
          .addColumn('to_account', 'varchar(120)', (c) => c.notNull())
          .addColumn('amount', 'bigint', (c) => c.notNull())
          .addColumn('reason', 'varchar(32)', (c) => c.notNull())
          .addColumn('source', 'varchar(200)', (c) => c.notNull())
          .addColumn('post_id', 'varchar(48)')
          .addColumn('correlation_id', 'varchar(200)')
          .addColumn('meta', 'text', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ledger_txns_reason').on('ledger_txns').columns(['reason', 'id']).execute();
        await db.schema.createIndex('ledger_txns_post').on('ledger_txns').columns(['post_id']).execute();
        await db.schema
          .createTable('ledger_entries')
          .addColumn('seq', backend.identity.type, (c) => backend.identity.modify(c.primaryKey()))
          .addColumn('txn_id', 'varchar(48)', (c) => c.notNull().references('ledger_txns.id'))
          .addColumn('account', 'varchar(120)', (c) => c.notNull())
          .addColumn('amount', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('compute_controls')
          .addColumn('agent', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('frozen', 'integer', (c) => c.notNull())
          .addColumn('note', 'text')
          .addColumn('updated_by', 'varchar(200)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('board_posts')
          .addColumn('id', 'varchar(48)', (c) => c.primaryKey())
          .addColumn('author_type', 'varchar(16)', (c) => c.notNull())
          .addColumn('author_id', 'varchar(120)', (c) => c.notNull())
          .addColumn('audience', 'varchar(80)', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('bounty', 'bigint', (c) => c.notNull())
          .addColumn('moderation', 'text', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('board_posts_author').on('board_posts').columns(['author_id', 'created_at']).execute();
        await db.schema.createIndex('board_posts_status').on('board_posts').columns(['status', 'id']).execute();
        await db.schema
          .createTable('board_post_tags')
          .addColumn('post_id', 'varchar(48)', (c) => c.notNull().references('board_posts.id'))
          .addColumn('tag', 'varchar(40)', (c) => c.notNull())
          .addPrimaryKeyConstraint('board_post_tags_pk', ['tag', 'post_id'])
          .execute();
        await db.schema
          .createTable('board_replies')
          .addColumn('id', 'varchar(48)', (c) => c.primaryKey())
          .addColumn('post_id', 'varchar(48)', (c) => c.notNull().references('board_posts.id'))
          .addColumn('author_type', 'varchar(16)', (c) => c.notNull())
          .addColumn('author_id', 'varchar(120)', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('board_replies_post').on('board_replies').columns(['post_id', 'id']).execute();
        await db.schema.createIndex('board_replies_author').on('board_replies').columns(['author_id', 'created_at']).execute();
        await db.schema.createIndex('ledger_entries_account').on('ledger_entries').columns(['account', 'txn_id']).execute();
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
    '0008_world': {
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
    },
    '0009_deployment_owner': {
      async up(db: Kysely<unknown>) {
        // Who owns an agent is the identity that deployed it, not a claim in its manifest.
        await db.schema.alterTable('deployments').addColumn('owner', 'varchar(200)').execute();
      },
    },
    '0009_llm_counters': {
      async up(db: Kysely<unknown>) {
        // The gateway's requests/min and tokens/hour counters are rebuilt from the last hour
        // of recorded calls when the daemon starts, so limits hold across a restart.
        await db.schema.createIndex('llm_usage_ts').on('llm_usage').columns(['ts']).execute();
      },
    },
    '0010_perception': {
      async up(db: Kysely<unknown>) {
        // Board replies get a number in the order they become visible: ids and created_at
        // order by the clock of whoever wrote them (random within a millisecond), so a
        // position by id could skip a reply written just after it was read.
        await backend.addVisibilitySeq(db, { table: 'board_replies', column: 'seq', key: 'id', orderBy: ['created_at', 'id'] });
        // A villager's new replies: per post of its own, those past its position.
        await db.schema.createIndex('board_replies_post_seq').on('board_replies').columns(['post_id', 'seq']).execute();
        // Where each villager's perception left off: the tick it last perceived (heard lines
        // up to it were delivered) and the last reply it was given.
        await db.schema
          .createTable('perception_cursors')
          .addColumn('agent', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('tick', 'bigint', (c) => c.notNull())
          .addColumn('reply_seq', 'bigint', (c) => c.notNull())
          .execute();
        // Replies made before this were kept in memory only and are gone with the restart
        // that brings this migration: villagers who posted start past them, rather than
        // being told every old reply again.
        await sql`insert into perception_cursors (agent, tick, reply_seq)
          select distinct substr(author_id, 7), 0, (select coalesce(max(seq), 0) from board_replies)
          from board_posts where author_type = 'agent' and author_id like 'agent:%'`.execute(db);
      },
    },
  };
}

export async function migrateToLatest(backend: SqlBackend): Promise<string[]> {
  return migrate(backend, (m) => m.migrateToLatest());
}

/** Up to and including `name` only: for tests of a later migration over data written before it. */
export async function migrateTo(backend: SqlBackend, name: string): Promise<string[]> {
  return migrate(backend, (m) => m.migrateTo(name));
}

async function migrate(backend: SqlBackend, run: (m: Migrator) => Promise<MigrationResultSet>): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(backend) };
  const migrator = new Migrator({ db: backend.db, provider, migrationTableName: 'aiflock_migrations', migrationLockTableName: 'aiflock_migrations_lock' });
  const { error, results } = await run(migrator);
  if (error) throw new Error(`store migration failed: ${String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** A trivial round trip, for readiness. */
export async function pingSql(backend: SqlBackend): Promise<void> {
  await sql`select 1`.execute(backend.db);
}
