import { sql, type Selectable } from 'kysely';
import type { AuditEntry, AuditOutcome, DeploymentRecord, InstanceRecord, LogRecord, Store, TaskRecord } from '@aiflock/core';
import type { InstanceStatus, LogLevel, TaskStatus } from '@aiflock/protocol';
import { contextRepo } from './context-repo.js';
import { migrateToLatest, pingSql } from './migrations.js';
import type { SqlBackend } from './dialect.js';
import type { AuditTable, DeploymentsTable, InstancesTable, LogsTable, TasksTable } from './tables.js';

const json = (v: unknown): string => JSON.stringify(v ?? null);
const unjson = (v: string | null): unknown => (v === null ? null : JSON.parse(v));

/** The Store port over any Kysely backend; the same code serves SQLite and PostgreSQL. */
export class SqlStore implements Store {
  readonly kind: string;

  private constructor(private readonly backend: SqlBackend) {
    this.kind = backend.kind;
  }

  static async open(backend: SqlBackend): Promise<SqlStore> {
    await migrateToLatest(backend);
    return new SqlStore(backend);
  }

  /** The query builder itself: for tests that play the attacker with direct SQL. */
  get db() {
    return this.backend.db;
  }

  /** Consistent online copy to `file`, or null when the backend is backed up by its own tools. */
  get backupTo(): ((file: string) => Promise<void>) | null {
    return this.backend.backupTo;
  }

  readonly deployments: Store['deployments'] = {
    get: async (name) => {
      const row = await this.db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst();
      return row && toDeployment(row);
    },
    list: async () => (await this.db.selectFrom('deployments').selectAll().orderBy('name').execute()).map(toDeployment),
    upsert: async (r) => {
      const row = {
        name: r.name,
        digest: r.digest,
        manifest: json(r.manifest),
        replicas: r.replicas,
        state: r.state,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      };
      await this.db
        .insertInto('deployments')
        .values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet({ ...row }))
        .execute();
    },
    remove: async (name) => {
      await this.db.deleteFrom('deployments').where('name', '=', name).execute();
    },
  };

  readonly tasks: Store['tasks'] = {
    insert: async (r) => {
      await this.db
        .insertInto('tasks')
        .values(fromTask(r))
        .onConflict((oc) => oc.columns(['agent', 'idempotency_key']).doNothing())
        .execute();
      const row = r.idempotencyKey
        ? await this.db
            .selectFrom('tasks')
            .selectAll()
            .where('agent', '=', r.agent)
            .where('idempotency_key', '=', r.idempotencyKey)
            .executeTakeFirstOrThrow()
        : await this.db.selectFrom('tasks').selectAll().where('id', '=', r.id).executeTakeFirstOrThrow();
      return { inserted: row.id === r.id, task: toTask(row) };
    },
    get: async (id) => {
      const row = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toTask(row);
    },
    list: async (f) => {
      let q = this.db.selectFrom('tasks').selectAll().orderBy('id', 'desc').limit(f.limit);
      if (f.agent) q = q.where('agent', '=', f.agent);
      if (f.status?.length) q = q.where('status', 'in', f.status);
      if (f.before) q = q.where('id', '<', f.before);
      return (await q.execute()).map(toTask);
    },
    transition: async (id, from, patch) => {
      const { id: _ignored, ...rest } = patch;
      const set = fromTaskPatch(rest);
      if (Object.keys(set).length === 0) return this.tasks.get(id);
      const row = await this.db
        .updateTable('tasks')
        .set(set)
        .where('id', '=', id)
        .where('status', 'in', [...from])
        .returningAll()
        .executeTakeFirst();
      return row && toTask(row);
    },
    overdue: async (now, limit) =>
      (
        await this.db
          .selectFrom('tasks')
          .selectAll()
          .where('status', 'in', ['queued', 'running'])
          .where('deadline', '<', now)
          .orderBy('deadline')
          .limit(limit)
          .execute()
      ).map(toTask),
    countByStatus: async () => {
      const rows = await this.db
        .selectFrom('tasks')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };

  readonly instances: Store['instances'] = {
    upsert: async (r) => {
      const row = {
        id: r.id,
        agent: r.agent,
        status: r.status,
        handle: r.handle,
        node: r.node,
        started_at: r.startedAt,
        last_heartbeat_at: r.lastHeartbeatAt,
        exit_code: r.exitCode,
        oom_killed: r.oomKilled ? 1 : 0,
      };
      await this.db
        .insertInto('instances')
        .values(row)
        .onConflict((oc) => oc.column('id').doUpdateSet({ ...row }))
        .execute();
    },
    get: async (id) => {
      const row = await this.db.selectFrom('instances').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toInstance(row);
    },
    list: async (agent) => {
      let q = this.db.selectFrom('instances').selectAll().orderBy('id');
      if (agent) q = q.where('agent', '=', agent);
      return (await q.execute()).map(toInstance);
    },
    remove: async (id) => {
      await this.db.deleteFrom('instances').where('id', '=', id).execute();
    },
  };

  readonly logs: Store['logs'] = {
    append: async (lines) => {
      if (lines.length === 0) return;
      await this.db
        .insertInto('logs')
        .values(lines.map((l) => ({ ts: l.ts, level: l.level, msg: l.msg, agent: l.agent, instance_id: l.instanceId, task_id: l.taskId })))
        .execute();
    },
    list: async (f) => {
      let q = this.db.selectFrom('logs').selectAll();
      if (f.agent) q = q.where('agent', '=', f.agent);
      if (f.taskId) q = q.where('task_id', '=', f.taskId);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      const rows = await q.orderBy('seq', f.tail ? 'desc' : 'asc').limit(f.limit).execute();
      return (f.tail ? rows.reverse() : rows).map(toLog);
    },
  };

  private contextStore: Store['context'] | undefined;
  get context(): Store['context'] {
    return (this.contextStore ??= contextRepo(this.backend.db));
  }

  readonly audit: Store['audit'] = {
    append: async (build) =>
      this.backend.exclusive('audit_log', async (trx) => {
        const last = await trx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
        const entry = build(last ? { seq: Number(last.seq), hash: last.hash } : null);
        await trx.insertInto('audit_log').values(fromAudit(entry)).execute();
        return entry;
      }),
    list: async (f) => {
      let q = this.db.selectFrom('audit_log').selectAll();
      if (f.actor) q = q.where('actor', '=', f.actor);
      if (f.action) q = q.where('action', '=', f.action);
      if (f.resource) q = f.resource.endsWith('*') ? q.where(sql<boolean>`resource like ${`${escapeLike(f.resource.slice(0, -1))}%`} escape '\\'`) : q.where('resource', '=', f.resource);
      if (f.since) q = q.where('ts', '>=', f.since);
      if (f.until) q = q.where('ts', '<', f.until);
      if (f.beforeSeq !== undefined) q = q.where('seq', '<', f.beforeSeq);
      if (f.afterSeq !== undefined) q = q.where('seq', '>', f.afterSeq);
      return (await q.orderBy('seq', f.ascending ? 'asc' : 'desc').limit(f.limit).execute()).map(toAudit);
    },
    scan: () => this.scanAudit(),
    byHash: async (hash) => {
      const row = await this.db.selectFrom('audit_log').selectAll().where('hash', '=', hash).executeTakeFirst();
      return row && toAudit(row);
    },
  };

  private async *scanAudit(): AsyncGenerator<AuditEntry> {
    for (let after = 0; ; ) {
      const rows = await this.db.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq').limit(500).execute();
      for (const r of rows) yield toAudit(r);
      if (rows.length < 500) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async ping(): Promise<{ ok: boolean; detail: string }> {
    try {
      await pingSql(this.backend);
      return { ok: true, detail: `${this.kind} answers` };
    } catch (err) {
      return { ok: false, detail: `${this.kind}: ${String(err)}` };
    }
  }

  private closing: Promise<void> | null = null;

  /** Idempotent: the second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.backend.close();
    return this.closing;
  }
}

function toDeployment(r: Selectable<DeploymentsTable>): DeploymentRecord {
  return {
    name: r.name,
    digest: r.digest,
    manifest: JSON.parse(r.manifest) as DeploymentRecord['manifest'],
    replicas: r.replicas,
    state: r.state as DeploymentRecord['state'],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
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
  };
}

function fromTaskPatch(p: Partial<TaskRecord>): Partial<TasksTable> {
  const full = fromTask({ ...(p as TaskRecord) });
  const map: Record<string, keyof TasksTable> = {
    agent: 'agent', type: 'type', status: 'status', input: 'input', result: 'result', output: 'output', error: 'error',
    attempt: 'attempt', maxAttempts: 'max_attempts', instanceId: 'instance_id', idempotencyKey: 'idempotency_key',
    requestHash: 'request_hash', createdAt: 'created_at', startedAt: 'started_at', finishedAt: 'finished_at',
    deadline: 'deadline', queueSeq: 'queue_seq',
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
  };
}

function toInstance(r: Selectable<InstancesTable>): InstanceRecord {
  return {
    id: r.id,
    agent: r.agent,
    status: r.status as InstanceStatus,
    handle: r.handle,
    node: r.node,
    startedAt: r.started_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    exitCode: r.exit_code,
    oomKilled: r.oom_killed === 1,
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

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function fromAudit(e: AuditEntry): AuditTable {
  return {
    seq: e.seq,
    ts: e.ts,
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome,
    request_id: e.requestId,
    correlation_id: e.correlationId,
    details: json(e.details),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

function toAudit(r: Selectable<AuditTable>): AuditEntry {
  return {
    seq: Number(r.seq),
    ts: r.ts,
    actor: r.actor,
    action: r.action,
    resource: r.resource,
    outcome: r.outcome as AuditOutcome,
    requestId: r.request_id,
    correlationId: r.correlation_id,
    details: unjson(r.details),
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
