import type { Kysely, Migration } from 'kysely';

export const m0011LogBounds = (): Migration => ({
  async up(db: Kysely<unknown>) {
    // The log sweeper keeps the newest rows per instance and drops rows past retention:
    // both look rows up by instance and by time.
    await db.schema.createIndex('logs_instance').on('logs').columns(['instance_id', 'seq']).execute();
    await db.schema.createIndex('logs_ts').on('logs').columns(['ts']).execute();
  },
});
