import type { Kysely, Migration } from 'kysely';

export const m0009LlmCounters = (): Migration => ({
  async up(db: Kysely<unknown>) {
    // The gateway's requests/min and tokens/hour counters are rebuilt from the last hour
    // of recorded calls when the daemon starts, so limits hold across a restart.
    await db.schema.createIndex('llm_usage_ts').on('llm_usage').columns(['ts']).execute();
  },
});
