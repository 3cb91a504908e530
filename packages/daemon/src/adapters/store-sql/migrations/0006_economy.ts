import type { Kysely, Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

export const m0006Economy = (backend: SqlBackend): Migration => ({
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
});
