import type { Kysely, Selectable } from 'kysely';
import type { LogRecord, Store } from '@aiflock/core';
import type { LogLevel } from '@aiflock/protocol';
import type { Database, LogsTable } from './tables.js';
import { directWriter, type Writer } from './group-commit.js';
import { prepared } from './prepared.js';

/** Log lines come a few at a time on the task path: compiled once per number of lines (prepared.ts). */
const insertLogs = prepared((db, v: { rows: Omit<LogsTable, 'seq'>[] }) => db.insertInto('logs').values(v.rows));

/** Agent log lines, on any Kysely backend. */
export function logRepo(db: Kysely<Database>, write: Writer = directWriter(db)): Store['logs'] {
  return {
    append: async (lines) => {
      if (lines.length === 0) return;
      const rows = lines.map((l) => ({ ts: l.ts, level: l.level, msg: l.msg, agent: l.agent, instance_id: l.instanceId, task_id: l.taskId }));
      await write((db) => insertLogs(db, { rows }));
    },
    list: async (f) => {
      let q = db.selectFrom('logs').selectAll();
      if (f.agent) q = q.where('agent', '=', f.agent);
      if (f.agents) q = f.agents.length ? q.where('agent', 'in', [...f.agents]) : q.where('seq', '<', 0);
      if (f.since) q = q.where('ts', '>=', f.since);
      if (f.taskId) q = q.where('task_id', '=', f.taskId);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      const rows = await q.orderBy('seq', f.tail ? 'desc' : 'asc').limit(f.limit).execute();
      return (f.tail ? rows.reverse() : rows).map(toLog);
    },
    prune: async ({ before, perInstance, total }) => {
      let deleted = Number((await db.deleteFrom('logs').where('ts', '<', before).executeTakeFirst()).numDeletedRows);
      const over = await db.selectFrom('logs').select('instance_id').groupBy('instance_id').having((eb) => eb.fn.countAll(), '>', perInstance).execute();
      for (const { instance_id } of over) {
        const keep = await newestKept(db, perInstance, instance_id);
        if (keep !== null) deleted += Number((await db.deleteFrom('logs').where('instance_id', '=', instance_id).where('seq', '<', keep).executeTakeFirst()).numDeletedRows);
      }
      const keep = await newestKept(db, total);
      if (keep !== null) deleted += Number((await db.deleteFrom('logs').where('seq', '<', keep).executeTakeFirst()).numDeletedRows);
      return deleted;
    },
    reassign: async (agent, to) => {
      const r = to === null ? await db.deleteFrom('logs').where('agent', '=', agent).executeTakeFirst() : await db.updateTable('logs').set({ agent: to }).where('agent', '=', agent).executeTakeFirst();
      return Number('numDeletedRows' in r ? r.numDeletedRows : r.numUpdatedRows);
    },
  };
}

/** The seq of the oldest of the newest `n` rows (of one instance, or of all), or null if there are no more than `n`. */
async function newestKept(db: Kysely<Database>, n: number, instanceId?: string): Promise<number | null> {
  let q = db.selectFrom('logs').select('seq');
  if (instanceId !== undefined) q = q.where('instance_id', '=', instanceId);
  const row = await q.orderBy('seq', 'desc').limit(1).offset(n - 1).executeTakeFirst();
  if (!row) return null;
  // Only when there is a row past it is there anything to delete; the delete checks `< seq`.
  return Number(row.seq);
}

function toLog(r: Selectable<LogsTable>): LogRecord {
  return {
    seq: Number(r.seq),
    ts: r.ts,
    level: r.level as LogLevel,
    msg: r.msg,
    agent: r.agent,
    instanceId: r.instance_id,
    taskId: r.task_id,
  };
}
