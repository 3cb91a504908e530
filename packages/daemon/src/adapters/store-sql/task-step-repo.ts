import type { Kysely } from 'kysely';
import type { TaskStepStore } from '@aiflock/core';
import type { TaskStep } from '@aiflock/protocol';
import type { Database } from './tables.js';
import { directWriter, type Writer } from './group-commit.js';

/** Agent-loop steps, on any Kysely backend. */
export function taskStepRepo(db: Kysely<Database>, write: Writer = directWriter(db)): TaskStepStore {
  return {
    append: async ({ agent, instanceId, step }) => {
      const r = await write((db) =>
        db
          .insertInto('task_steps')
          .values({ task_id: step.taskId, agent, instance_id: instanceId, seq: step.seq, ts: step.ts, kind: step.kind, step: JSON.stringify(step) })
          .onConflict((oc) => oc.columns(['task_id', 'instance_id', 'seq', 'ts']).doNothing())
          .executeTakeFirst(),
      );
      return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    },
    list: async (taskId, limit) => {
      const rows = await db.selectFrom('task_steps').selectAll().where('task_id', '=', taskId).orderBy('row_id').limit(limit).execute();
      return rows.map((r) => ({ agent: r.agent, instanceId: r.instance_id, step: JSON.parse(r.step) as TaskStep }));
    },
  };
}
