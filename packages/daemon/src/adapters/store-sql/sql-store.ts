import { sql, type Kysely, type Selectable } from 'kysely';
import type { AuditEntry, AuditOutcome, DeploymentRecord, InstanceRecord, LedgerEntry, LedgerTxn, LlmUsageEvent, LogRecord, PostRecord, Store, TaskRecord } from '@aiflock/core';
import type { InstanceStatus, LogLevel, TaskStatus } from '@aiflock/protocol';
import { authRepos } from './auth-repos.js';
import { contextRepo } from './context-repo.js';
import { worldRepo } from './world-repo.js';
import { perceptionRepo } from './perception-repo.js';
import { migrateToLatest, pingSql } from './migrations.js';
import type { SqlBackend } from './dialect.js';
import type { AuditTable, BoardPostsTable, Database, LedgerTxnsTable, DeploymentsTable, InstancesTable, LlmUsageTable, LogsTable, TasksTable } from './tables.js';

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

  private readonly auth = authRepos(() => this.backend.db);
  readonly tokens: Store['tokens'] = this.auth.tokens;
  readonly sessions: Store['sessions'] = this.auth.sessions;
  readonly jobEvents: Store['jobEvents'] = this.auth.jobEvents;

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
        owner: r.owner ?? null,
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

  private worldStore: Store['world'] | undefined;
  get world(): Store['world'] {
    return (this.worldStore ??= worldRepo(this.backend.db));
  }

  private perceptionStore: Store['perception'] | undefined;
  get perception(): Store['perception'] {
    return (this.perceptionStore ??= perceptionRepo(this.backend.db));
  }

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

  readonly ledger: Store['ledger'] = {
    post: async (txn, fromFloor, caps = []) =>
      // One writer of the ledger at a time (a table lock on PostgreSQL, the single connection
      // on SQLite): the key lookup, the floor check and the insert see the same state.
      this.backend.exclusive('ledger_entries', async (trx) => {
        const existing = await trx.selectFrom('ledger_txns').selectAll().where('idempotency_key', '=', txn.idempotencyKey).executeTakeFirst();
        if (existing) {
          const found = toLedgerTxn(existing);
          return { kind: found.requestHash === txn.requestHash ? ('existing' as const) : ('conflict' as const), txn: found };
        }
        const balance = await sumFor(trx, txn.from);
        if (fromFloor !== null && balance - txn.amount < fromFloor) return { kind: 'insufficient' as const, balance };
        for (const cap of caps) {
          let q = trx.selectFrom('ledger_txns').select((eb) => eb.fn.sum<string | number | null>('amount').as('total')).where('reason', 'in', cap.reasons);
          if (cap.source !== undefined) q = q.where('source', '=', cap.source);
          if (cap.postId !== undefined) q = q.where('post_id', '=', cap.postId);
          if (cap.since !== undefined) q = q.where('created_at', '>=', cap.since);
          const used = Number((await q.executeTakeFirst())?.total ?? 0);
          if (used + txn.amount > cap.max) return { kind: 'capped' as const, cap, used };
        }
        await trx.insertInto('ledger_txns').values(fromLedgerTxn(txn)).execute();
        await trx
          .insertInto('ledger_entries')
          .values([
            { txn_id: txn.id, account: txn.from, amount: -txn.amount },
            { txn_id: txn.id, account: txn.to, amount: txn.amount },
          ])
          .execute();
        return { kind: 'inserted' as const, txn, balanceAfter: balance - txn.amount };
      }),
    balance: async (account) => sumFor(this.db, account),
    balances: async () => {
      const rows = await this.db
        .selectFrom('ledger_entries')
        .select(['account', (eb) => eb.fn.sum<string | number>('amount').as('total')])
        .groupBy('account')
        .execute();
      return new Map(rows.map((r) => [r.account, Number(r.total)]));
    },
    history: async (f) => {
      let q = this.db
        .selectFrom('ledger_txns')
        .selectAll()
        .where((eb) => eb.or([eb('from_account', '=', f.account), eb('to_account', '=', f.account)]));
      if (f.before) q = q.where('id', '<', f.before);
      return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toLedgerTxn);
    },
    list: async (f) => {
      let q = this.db.selectFrom('ledger_txns').selectAll();
      if (f.reason) q = q.where('reason', '=', f.reason);
      if (f.sourcePrefix) q = q.where(sql<boolean>`source like ${`${escapeLike(f.sourcePrefix)}%`} escape '\\'`);
      if (f.postId) q = q.where('post_id', '=', f.postId);
      if (f.to) q = q.where('to_account', '=', f.to);
      if (f.from) q = q.where('from_account', '=', f.from);
      if (f.since) q = q.where('created_at', '>=', f.since);
      if (f.before) q = q.where('id', '<', f.before);
      return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toLedgerTxn);
    },
    byKey: async (key) => {
      const row = await this.db.selectFrom('ledger_txns').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
      return row && toLedgerTxn(row);
    },
    scan: () => this.scanLedger(),
    entries: async (txnId) =>
      (await this.db.selectFrom('ledger_entries').selectAll().where('txn_id', '=', txnId).orderBy('seq').execute()).map((r) => ({
        seq: Number(r.seq),
        txnId: r.txn_id,
        account: r.account,
        amount: Number(r.amount),
      })),
  };

  readonly board: Store['board'] = {
    insertPost: async (p) => {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('board_posts').values(fromPost(p)).execute();
        if (p.tags.length) await trx.insertInto('board_post_tags').values(p.tags.map((tag) => ({ post_id: p.id, tag }))).execute();
      });
    },
    getPost: async (id) => {
      const r = await this.db.selectFrom('board_posts').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toPost(r);
    },
    listPosts: async (f) => {
      let q = this.db.selectFrom('board_posts').selectAll('board_posts');
      if (f.tag) q = q.innerJoin('board_post_tags', 'board_post_tags.post_id', 'board_posts.id').where('board_post_tags.tag', '=', f.tag);
      if (f.status) q = q.where('board_posts.status', '=', f.status);
      if (f.notStatus?.length) q = q.where('board_posts.status', 'not in', f.notStatus);
      if (f.authorId) q = q.where('board_posts.author_id', '=', f.authorId);
      if (f.audiences) q = q.where('board_posts.audience', 'in', f.audiences);
      if (f.before) q = q.where('board_posts.id', '<', f.before);
      return (await q.orderBy('board_posts.id', 'desc').limit(f.limit).execute()).map(toPost);
    },
    setStatus: async (id, status, moderation, updatedAt) => {
      const r = await this.db
        .updateTable('board_posts')
        .set({ status, moderation: json(moderation), updated_at: updatedAt })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return r && toPost(r);
    },
    insertReply: async (r) => {
      await this.db
        .insertInto('board_replies')
        .values({ id: r.id, post_id: r.postId, author_type: r.authorType, author_id: r.authorId, body: r.body, created_at: r.createdAt })
        .execute();
    },
    listReplies: async (postId, limit) =>
      (await this.db.selectFrom('board_replies').selectAll().where('post_id', '=', postId).orderBy('id').limit(limit).execute()).map((r) => ({
        id: r.id,
        postId: r.post_id,
        authorType: r.author_type as PostRecord['authorType'],
        authorId: r.author_id,
        body: r.body,
        createdAt: r.created_at,
      })),
    countByAuthorSince: async (authorId, since) => {
      const count = async (table: 'board_posts' | 'board_replies') =>
        Number(
          (await this.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('author_id', '=', authorId).where('created_at', '>=', since).executeTakeFirst())?.n ?? 0,
        );
      return (await count('board_posts')) + (await count('board_replies'));
    },
  };

  readonly computeControls: Store['computeControls'] = {
    get: async (agent) => {
      const r = await this.db.selectFrom('compute_controls').selectAll().where('agent', '=', agent).executeTakeFirst();
      return r && { agent: r.agent, frozen: r.frozen === 1, note: r.note, updatedBy: r.updated_by, updatedAt: r.updated_at };
    },
    set: async (c) => {
      const row = { agent: c.agent, frozen: c.frozen ? 1 : 0, note: c.note, updated_by: c.updatedBy, updated_at: c.updatedAt };
      await this.db
        .insertInto('compute_controls')
        .values(row)
        .onConflict((oc) => oc.column('agent').doUpdateSet({ ...row }))
        .execute();
    },
  };

  private async *scanLedger(): AsyncGenerator<{ txn: LedgerTxn; entries: LedgerEntry[] }> {
    for (let after = ''; ; ) {
      const rows = await this.db.selectFrom('ledger_txns').selectAll().where('id', '>', after).orderBy('id').limit(500).execute();
      if (rows.length === 0) return;
      const ids = rows.map((r) => r.id);
      const entries = await this.db.selectFrom('ledger_entries').selectAll().where('txn_id', 'in', ids).orderBy('seq').execute();
      const byTxn = new Map<string, LedgerEntry[]>();
      for (const e of entries) {
        const list = byTxn.get(e.txn_id) ?? [];
        list.push({ seq: Number(e.seq), txnId: e.txn_id, account: e.account, amount: Number(e.amount) });
        byTxn.set(e.txn_id, list);
      }
      for (const r of rows) yield { txn: toLedgerTxn(r), entries: byTxn.get(r.id) ?? [] };
      if (rows.length < 500) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  private async *scanAudit(): AsyncGenerator<AuditEntry> {
    for (let after = 0; ; ) {
      const rows = await this.db.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq').limit(500).execute();
      for (const r of rows) yield toAudit(r);
      if (rows.length < 500) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  readonly llmUsage: Store['llmUsage'] = {
    append: async (e) => {
      await this.db
        .insertInto('llm_usage')
        .values({
          correlation_id: e.correlationId,
          ts: e.ts,
          caller: e.caller,
          agent: e.agent,
          instance_id: e.instanceId,
          model: e.model,
          provider: e.provider,
          provider_model: e.providerModel,
          tokens_in: e.tokensIn,
          tokens_out: e.tokensOut,
          cost_micro: Math.round(e.costAiDollars * 1e6),
          latency_ms: Math.round(e.latencyMs),
          fallback_used: e.fallbackUsed ? 1 : 0,
          attempts: e.attempts,
          outcome: e.outcome,
        })
        .execute();
    },
    list: async (f) => {
      let q = this.db.selectFrom('llm_usage').selectAll();
      if (f.agent) q = q.where('agent', '=', f.agent);
      return (await q.orderBy('seq', 'desc').limit(f.limit).execute()).map(usageRow);
    },
    since: async (ts, limit) => (await this.db.selectFrom('llm_usage').selectAll().where('ts', '>=', ts).orderBy('ts', 'asc').orderBy('seq', 'asc').limit(limit).execute()).map(usageRow),
  };

  readonly secrets: Store['secrets'] = {
    put: async (r) => {
      const row = { name: r.name, sealed: r.sealed, created_at: r.createdAt, updated_at: r.updatedAt };
      await this.db
        .insertInto('secrets')
        .values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet({ sealed: row.sealed, updated_at: row.updated_at }))
        .execute();
    },
    get: async (name) => {
      const row = await this.db.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst();
      return row && { name: row.name, sealed: row.sealed, createdAt: row.created_at, updatedAt: row.updated_at };
    },
    list: async () =>
      (await this.db.selectFrom('secrets').select(['name', 'created_at', 'updated_at']).orderBy('name').execute()).map((r) => ({
        name: r.name,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      })),
    remove: async (name) => {
      const res = await this.db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };

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
    owner: r.owner,
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

function fromPost(p: PostRecord): BoardPostsTable {
  return {
    id: p.id,
    author_type: p.authorType,
    author_id: p.authorId,
    audience: p.audience,
    title: p.title,
    body: p.body,
    tags: json(p.tags),
    status: p.status,
    bounty: p.bounty,
    moderation: json(p.moderation),
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

function toPost(r: Selectable<BoardPostsTable>): PostRecord {
  return {
    id: r.id,
    authorType: r.author_type as PostRecord['authorType'],
    authorId: r.author_id,
    audience: r.audience,
    title: r.title,
    body: r.body,
    tags: JSON.parse(r.tags) as string[],
    status: r.status as PostRecord['status'],
    bounty: Number(r.bounty),
    moderation: unjson(r.moderation) as PostRecord['moderation'],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A balance is the sum of the account's entries (bigint sums come back as strings on PostgreSQL). */
async function sumFor(db: Kysely<Database>, account: string): Promise<number> {
  const row = await db
    .selectFrom('ledger_entries')
    .select((eb) => eb.fn.sum<string | number | null>('amount').as('total'))
    .where('account', '=', account)
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

function fromLedgerTxn(t: LedgerTxn): LedgerTxnsTable {
  return {
    id: t.id,
    idempotency_key: t.idempotencyKey,
    request_hash: t.requestHash,
    from_account: t.from,
    to_account: t.to,
    amount: t.amount,
    reason: t.reason,
    source: t.source,
    post_id: t.postId,
    correlation_id: t.correlationId,
    meta: json(t.meta),
    created_at: t.createdAt,
  };
}

function toLedgerTxn(r: Selectable<LedgerTxnsTable>): LedgerTxn {
  return {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    from: r.from_account,
    to: r.to_account,
    amount: Number(r.amount),
    reason: r.reason,
    source: r.source,
    postId: r.post_id,
    correlationId: r.correlation_id,
    meta: unjson(r.meta),
    createdAt: r.created_at,
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

function usageRow(r: Selectable<LlmUsageTable>): LlmUsageEvent {
  return {
    correlationId: r.correlation_id,
    ts: r.ts,
    caller: r.caller,
    agent: r.agent,
    instanceId: r.instance_id,
    model: r.model,
    provider: r.provider,
    providerModel: r.provider_model,
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costAiDollars: Number(r.cost_micro) / 1e6,
    latencyMs: Number(r.latency_ms),
    fallbackUsed: Number(r.fallback_used) === 1,
    attempts: Number(r.attempts),
    outcome: r.outcome as LlmUsageEvent['outcome'],
  };
}
