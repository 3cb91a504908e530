import type { Kysely, Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

export const m0012People = (backend: SqlBackend): Migration => ({
  async up(db: Kysely<unknown>) {
    // `waiting_for_human` is longer than the 16 characters task statuses had.
    await backend.widenVarchar(db, { table: 'tasks', column: 'status', length: 32 });
    // A person's direct chat with an agent: one thread per (person, agent), read newest last.
    await db.schema
      .createTable('chat_messages')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('thread_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('agent', 'varchar(64)', (c) => c.notNull())
      .addColumn('person', 'varchar(64)', (c) => c.notNull())
      .addColumn('role', 'varchar(16)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('task_id', 'varchar(64)')
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('chat_messages_thread').on('chat_messages').columns(['thread_id', 'id']).execute();
    await db.schema.createIndex('chat_messages_task').on('chat_messages').columns(['task_id', 'kind']).execute();
    // What agents asked people (`ask_human`), once per tool call, and the answer.
    await db.schema
      .createTable('human_questions')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('task_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('call_id', 'varchar(200)', (c) => c.notNull())
      .addColumn('agent', 'varchar(64)', (c) => c.notNull())
      .addColumn('question', 'text', (c) => c.notNull())
      .addColumn('where_to', 'varchar(16)', (c) => c.notNull())
      .addColumn('thread_id', 'varchar(64)')
      .addColumn('post_id', 'varchar(64)')
      .addColumn('pause_deadline', 'integer', (c) => c.notNull())
      .addColumn('asked_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('answer', 'text')
      .addColumn('answered_by', 'varchar(200)')
      .addColumn('answered_at', 'varchar(32)')
      .addUniqueConstraint('human_questions_call', ['task_id', 'call_id'])
      .execute();
    await db.schema.createIndex('human_questions_thread').on('human_questions').columns(['thread_id']).execute();
    await db.schema.createIndex('human_questions_post').on('human_questions').columns(['post_id']).execute();
  },
});
