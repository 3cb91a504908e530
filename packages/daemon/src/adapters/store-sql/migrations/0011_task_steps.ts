import type { Kysely, Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

export const m0011TaskSteps = (backend: SqlBackend): Migration => ({
  async up(db: Kysely<unknown>) {
    // An agent loop's steps: thought, tool call, tool result, answer. Kept apart from the
    // log lines (a step is structured and read as a transcript) and from job_events (which
    // also carries them, for the stream, but is not the place to read a transcript from).
    await db.schema
      .createTable('task_steps')
      .addColumn('row_id', backend.identity.type, (c) => backend.identity.modify(c.primaryKey()))
      .addColumn('task_id', 'varchar(48)', (c) => c.notNull())
      .addColumn('agent', 'varchar(64)', (c) => c.notNull())
      .addColumn('instance_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('ts', 'varchar(32)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('step', 'text', (c) => c.notNull())
      .execute();
    // The same event delivered twice (after a daemon restart) is one step; another attempt
    // of the task restarts seq at 0 with later times.
    await db.schema.createIndex('task_steps_once').on('task_steps').columns(['task_id', 'instance_id', 'seq', 'ts']).unique().execute();
  },
});
