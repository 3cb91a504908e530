import type { Kysely, Selectable } from 'kysely';
import type { Store, TaskRecord } from '@aiflock/core';
import type { TaskStatus } from '@aiflock/protocol';
import { json, unjson } from './sql-values.js';
import type { Database, TasksTable } from './tables.js';
import { directWriter, type Writer } from './group-commit.js';
import { prepared } from './prepared.js';

// The task path's statements, compiled once per shape (prepared.ts).
const insertTask = prepared((db, row: TasksTable) =>
  db.insertInto('tasks').values(row).onConflict((oc) => oc.columns(['agent', 'idempotency_key']).doNothing()).returningAll(),
);
const byIdempotencyKey = prepared((db, k: { agent: string; key: string }) => db.selectFrom('tasks').selectAll().where('agent', '=', k.agent).where('idempotency_key', '=', k.key));
const byId = prepared((db, k: { id: string }) => db.selectFrom('tasks').selectAll().where('id', '=', k.id));
const transitionTask = prepared((db, t: { id: string; from: TaskStatus[]; set: Partial<TasksTable> }) =>
  db.updateTable('tasks').set(t.set).where('id', '=', t.id).where('status', 'in', t.from).returningAll(),
);

/** Tasks and their compare-and-set lifecycle, on any Kysely backend; writes go through `write` (group commit). */
export function taskRepo(db: Kysely<Database>, write: Writer = directWriter(db)): Store['tasks'] {
  const tasks: Store['tasks'] = {
    insert: (r) =>
      write(async (db) => {
        // One round trip when the row is new (the common case); a second only to read the task
        // that already holds the idempotency key.
        const [fresh] = (await insertTask(db, fromTask(r))).rows;
        if (fresh) return { inserted: true, task: toTask(fresh) };
        const [row] = (await byIdempotencyKey(db, { agent: r.agent, key: r.idempotencyKey ?? '' })).rows;
        if (!row) throw new Error(`task ${r.id} was neither inserted nor found by its idempotency key`);
        return { inserted: false, task: toTask(row) };
      }, { row: r.id }),
    get: async (id) => {
      const [row] = (await byId(db, { id })).rows;
      return row && toTask(row);
    },
    list: async (f) => {
      let q = db.selectFrom('tasks').selectAll().orderBy('id', 'desc').limit(f.limit);
      if (f.agent) q = q.where('agent', '=', f.agent);
      if (f.status?.length) q = q.where('status', 'in', f.status);
      if (f.before) q = q.where('id', '<', f.before);
      if (f.parentId) q = q.where('parent_id', '=', f.parentId);
      return (await q.execute()).map(toTask);
    },
    transition: async (id, from, patch) => {
      const { id: _ignored, ...rest } = patch;
      const set = fromTaskPatch(rest);
      if (Object.keys(set).length === 0) return tasks.get(id);
      const row = await write(async (db) => (await transitionTask(db, { id, from: [...from], set })).rows[0], { row: id });
      return row && toTask(row);
    },
    overdue: async (now, limit) =>
      (
        await db
          .selectFrom('tasks')
          .selectAll()
          .where('status', 'in', ['queued', 'running', 'waiting_for_human'])
          .where('deadline', '<', now)
          .orderBy('deadline')
          .limit(limit)
          .execute()
      ).map(toTask),
    countByStatus: async () => {
      const rows = await db
        .selectFrom('tasks')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };
  return tasks;
}

function fromTask(r: TaskRecord): TasksTable {
  return {
    id: r.id,
    agent: r.agent,
    type: r.type,
    status: r.status,
    input: json(r.input),
    result: r.result,
    output: r.output === null || r.output === undefined ? null : json(r.output),
    error: r.error,
    attempt: r.attempt,
    max_attempts: r.maxAttempts,
    instance_id: r.instanceId,
    idempotency_key: r.idempotencyKey,
    request_hash: r.requestHash,
    created_at: r.createdAt,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    deadline: r.deadline,
    queue_seq: r.queueSeq,
    parent_id: r.parentId ?? null,
  };
}

function fromTaskPatch(p: Partial<TaskRecord>): Partial<TasksTable> {
  const full = fromTask({ ...(p as TaskRecord) });
  const map: Record<string, keyof TasksTable> = {
    agent: 'agent', type: 'type', status: 'status', input: 'input', result: 'result', output: 'output', error: 'error',
    attempt: 'attempt', maxAttempts: 'max_attempts', instanceId: 'instance_id', idempotencyKey: 'idempotency_key',
    requestHash: 'request_hash', createdAt: 'created_at', startedAt: 'started_at', finishedAt: 'finished_at',
    deadline: 'deadline', queueSeq: 'queue_seq', parentId: 'parent_id',
  };
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(p)) {
    const col = map[key];
    if (col) out[col] = full[col];
  }
  return out as Partial<TasksTable>;
}

function toTask(r: Selectable<TasksTable>): TaskRecord {
  return {
    id: r.id,
    agent: r.agent,
    type: r.type,
    status: r.status as TaskStatus,
    input: unjson(r.input),
    result: r.result,
    output: unjson(r.output),
    error: r.error,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    instanceId: r.instance_id,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    deadline: r.deadline,
    queueSeq: r.queue_seq === null ? null : Number(r.queue_seq),
    parentId: r.parent_id,
  };
}
