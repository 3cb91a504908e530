import type { Kysely, Migration } from 'kysely';

export const m0007Memory = (): Migration => ({
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
});
