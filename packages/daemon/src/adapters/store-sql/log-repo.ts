import type { Kysely, Selectable } from 'kysely';
import type { LogRecord, Store } from '@aiflock/core';
import type { LogLevel } from '@aiflock/protocol';
import type { Database, LogsTable } from './tables.js';

/** Agent log lines, on any Kysely backend. */
export function logRepo(db: Kysely<Database>): Store['logs'] {
  return {
    append: async (lines) => {
      if (lines.length === 0) return;
      await db
        .insertInto('logs')
        .values(lines.map((l) => ({ ts: l.ts, level: l.level, msg: l.msg, agent: l.agent, instance_id: l.instanceId, task_id: l.taskId })))
        .execute();
    },
    list: async (f) => {
      let q = db.selectFrom('logs').selectAll();
      if (f.agent) q = q.where('agent', '=', f.agent);
      if (f.taskId) q = q.where('task_id', '=', f.taskId);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      const rows = await q.orderBy('seq', f.tail ? 'desc' : 'asc').limit(f.limit).execute();
      return (f.tail ? rows.reverse() : rows).map(toLog);
    },
  };
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
