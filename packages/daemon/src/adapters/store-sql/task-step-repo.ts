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
      return inStepOrder(rows).map((r) => ({ agent: r.agent, instanceId: r.instance_id, step: JSON.parse(r.step) as TaskStep }));
    },
  };
}

/**
 * Steps as the loop took them. Rows come in the order the daemon stored them, and the step
 * events of one attempt may be stored out of order (they are ingested side by side). So steps
 * are sorted by the instance's own clock, then number (an instance that runs the task again
 * numbers from 0 again, later); attempts on different instances keep the order they began in.
 */
function inStepOrder<R extends { instance_id: string; ts: string; seq: number }>(rows: R[]): R[] {
  const attempt = new Map<string, number>();
  for (const r of rows) if (!attempt.has(r.instance_id)) attempt.set(r.instance_id, attempt.size);
  return [...rows].sort((a, b) => attempt.get(a.instance_id)! - attempt.get(b.instance_id)! || Date.parse(a.ts) - Date.parse(b.ts) || a.seq - b.seq);
}
