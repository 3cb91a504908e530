import type { Store, TaskPathWrites } from '@aiflock/core';
import type { Kysely } from 'kysely';
import type { Database } from './tables.js';
import { auditRepo } from './audit-repo.js';
import { authRepos } from './auth-repos.js';
import { boardRepo } from './board-repo.js';
import { computeControlRepo } from './compute-control-repo.js';
import { contextRepo } from './context-repo.js';
import { deploymentRepo } from './deployment-repo.js';
import { instanceRepo } from './instance-repo.js';
import { ledgerRepo } from './ledger-repo.js';
import { llmUsageRepo } from './llm-usage-repo.js';
import { logRepo } from './log-repo.js';
import { secretRepo } from './secret-repo.js';
import { taskRepo } from './task-repo.js';
import { worldRepo } from './world-repo.js';
import { perceptionRepo } from './perception-repo.js';
import { taskStepRepo } from './task-step-repo.js';
import { peopleRepo } from './people-repo.js';
import { revisionRepo } from './revision-repo.js';
import { nodeRepo } from './node-repo.js';
import { migrateToLatest, pingSql } from './migrations.js';
import type { SqlBackend } from './dialect.js';
import { GroupCommit, directWriter, type GroupCommitOptions } from './group-commit.js';

/** The Store port over any Kysely backend; the same code serves SQLite and PostgreSQL. */
export class SqlStore implements Store {
  readonly kind: string;
  readonly deployments: Store['deployments'];
  readonly tasks: Store['tasks'];
  readonly instances: Store['instances'];
  readonly logs: Store['logs'];
  readonly audit: Store['audit'];
  readonly ledger: Store['ledger'];
  readonly board: Store['board'];
  readonly computeControls: Store['computeControls'];
  readonly llmUsage: Store['llmUsage'];
  readonly secrets: Store['secrets'];
  readonly taskSteps: Store['taskSteps'];
  readonly revisions: Store['revisions'];
  readonly nodes: Store['nodes'];

  /** The task path's writes (task rows, job events, log lines, steps, audit entries), committed in groups. */
  private readonly group: GroupCommit;

  private constructor(
    private readonly backend: SqlBackend,
    groupCommit: GroupCommitOptions,
  ) {
    this.kind = backend.kind;
    this.group = new GroupCommit(backend.db, backend.lock, { lanes: backend.writeLanes, ...groupCommit });
    const write = this.group.write;
    this.deployments = deploymentRepo(backend.db);
    this.tasks = taskRepo(backend.db, write);
    this.instances = instanceRepo(backend.db);
    this.logs = logRepo(backend.db, write);
    this.audit = auditRepo(backend, write);
    this.ledger = ledgerRepo(backend);
    this.board = boardRepo(backend.db);
    this.computeControls = computeControlRepo(backend.db);
    this.llmUsage = llmUsageRepo(backend.db);
    this.secrets = secretRepo(backend.db);
    this.taskSteps = taskStepRepo(backend.db, write);
    this.revisions = revisionRepo(backend.db);
    this.nodes = nodeRepo(backend.db);
  }

  together<T>(row: string, fn: (w: TaskPathWrites) => Promise<T>): Promise<T> {
    return this.group.write((trx) => fn(writesOn(trx)), { row });
  }

  static async open(backend: SqlBackend, groupCommit: GroupCommitOptions = {}): Promise<SqlStore> {
    await migrateToLatest(backend);
    return new SqlStore(backend, groupCommit);
  }

  /** The query builder itself: for tests that play the attacker with direct SQL. */
  get db() {
    return this.backend.db;
  }

  /** Consistent online copy to `file`, or null when the backend is backed up by its own tools. */
  get backupTo(): ((file: string) => Promise<void>) | null {
    return this.backend.backupTo;
  }

  private readonly auth = authRepos(
    () => this.backend.db,
    (op) => this.group.write(op),
  );
  readonly tokens: Store['tokens'] = this.auth.tokens;
  readonly sessions: Store['sessions'] = this.auth.sessions;
  readonly jobEvents: Store['jobEvents'] = this.auth.jobEvents;

  private worldStore: Store['world'] | undefined;
  get world(): Store['world'] {
    return (this.worldStore ??= worldRepo(this.backend.db));
  }

  private perceptionStore: Store['perception'] | undefined;
  get perception(): Store['perception'] {
    return (this.perceptionStore ??= perceptionRepo(this.backend.db));
  }

  private peopleStore: Store['people'] | undefined;
  get people(): Store['people'] {
    return (this.peopleStore ??= peopleRepo(this.backend.db));
  }

  private contextStore: Store['context'] | undefined;
  get context(): Store['context'] {
    return (this.contextStore ??= contextRepo(this.backend.db));
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
    // Writes already accepted are committed (or fail) before the connection goes.
    this.closing ??= this.group.idle().then(() => this.backend.close());
    return this.closing;
  }
}

/** The task path's repositories bound to one transaction: their writes run in it directly. */
function writesOn(trx: Kysely<Database>): TaskPathWrites {
  const write = directWriter(trx);
  return { tasks: taskRepo(trx, write), logs: logRepo(trx, write), taskSteps: taskStepRepo(trx, write), jobEvents: authRepos(() => trx, write).jobEvents };
}
