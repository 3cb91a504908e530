import type { Kysely, Migration } from 'kysely';

/**
 * Delegation: a task an agent hands to another agent names the task it was handed from, so
 * the job view shows the chain and cancelling a parent reaches its children.
 */
export const m0016TaskParent = (): Migration => ({
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('tasks').addColumn('parent_id', 'varchar(64)').execute();
    await db.schema.createIndex('tasks_parent').on('tasks').columns(['parent_id']).execute();
  },
});
