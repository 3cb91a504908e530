import type { Kysely, Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

export const m0004Llm = (backend: SqlBackend): Migration => ({
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
});
