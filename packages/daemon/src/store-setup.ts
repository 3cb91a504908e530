import { join } from 'node:path';
import { AuditLog, AuthService, SecretService, type Clock, type Store, type TaskRecord, type TaskStepRecord, type VectorIndex } from '@aiflock/core';
import type { Config } from './config.js';
import { HmacFileAnchor } from './adapters/audit-anchor/hmac-file-anchor.js';
import { SecretBox } from './adapters/secrets/secret-box.js';
import { openStore } from './adapters/store-sql/open.js';
import type { SqlStore } from './adapters/store-sql/sql-store.js';
import { openVectorIndex } from './adapters/vector-index/open.js';
import { bootstrapAdminToken, type AnnounceToken } from './auth/bootstrap.js';
import { toolRunAuditor } from './jobs/tool-audit.js';
import { recordingJobEvents } from './jobs/recording-store.js';
import { toolCallAuditor } from './jobs/tool-call-audit.js';
import type { Logger, logFn } from './logger.js';

export interface StoreSetup {
  /** The SQL store itself: its backup and the vector index's backend. */
  sqlStore: SqlStore;
  /** What every service uses: the SQL store, with job changes also feeding their streams. */
  store: Store;
  audit: AuditLog;
  auth: AuthService;
  secrets: SecretService;
  vectorIndex: VectorIndex;
  /** Hand over the context plane's run recorder once it exists (it is built after the gateway). */
  recordRunsWith(record: ((task: TaskRecord) => void) | null): void;
  /** Also tell `fn` of every task that reaches a final status (chat and board answers). */
  whenTaskFinished(fn: (task: TaskRecord) => void): void;
  /** Tell `fn` of every group-commit transaction: how many writes it held, how long it took (metrics). */
  whenGroupCommitted(fn: (writes: number, ms: number) => void): void;
}

/**
 * The state and what guards it: the store, the audit log, people's credentials (with the
 * first admin token), agents' secrets and the vector index.
 */
export async function setupStore(
  config: Config,
  deps: { clock: Clock; logger: Logger; log: ReturnType<typeof logFn>; announceAdminToken?: AnnounceToken | undefined },
): Promise<StoreSetup> {
  const { clock, log } = deps;
  // Every job's status changes and log lines also feed its resumable stream (WS /v1/stream/{id}).
  let committed: ((writes: number, ms: number) => void) | null = null;
  const sqlStore = await openStore(config, (msg) => log('warn', msg), { onBatch: (writes, ms) => committed?.(writes, ms) });
  // Finished tasks may also be recorded in the context plane's `runs` collection (set later).
  let recordRun: ((task: TaskRecord) => void) | null = null;
  let auditToolRun: ((task: TaskRecord) => void) | null = null;
  let auditToolCall: ((step: TaskStepRecord) => void) | null = null;
  const finished: ((task: TaskRecord) => void)[] = [];
  const store = recordingJobEvents(
    sqlStore,
    () => clock.now().toISOString(),
    (t) => {
      recordRun?.(t);
      auditToolRun?.(t);
      for (const fn of finished) fn(t);
    },
    (s) => auditToolCall?.(s),
  );
  // The tamper-evident audit log (security invariant 5). Components that act on behalf of
  // someone (ledger, egress proxy, quarantine) get this one instance from here.
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(config.dataDir), clock, log });
  auditToolRun = toolRunAuditor(audit, log);
  auditToolCall = toolCallAuditor(audit, store.taskSteps, log);
  const auth = new AuthService({ store, clock, sessionTtlMs: config.auth.sessionTtlMs });
  await bootstrapAdminToken(auth, store, config.dataDir, deps.logger, deps.announceAdminToken);
  const secrets = new SecretService({ store, clock, cipher: await SecretBox.fromKeyFile(join(config.dataDir, 'secrets.key')) });

  const vectorIndex = await openVectorIndex(config.context.vectorIndex, sqlStore, (msg) => log('info', msg), { ann: config.context.pgvectorAnn, efSearch: config.context.pgvectorEfSearch });
  return {
    sqlStore,
    store,
    audit,
    auth,
    secrets,
    vectorIndex,
    recordRunsWith(record) {
      recordRun = record;
    },
    whenTaskFinished(fn) {
      finished.push(fn);
    },
    whenGroupCommitted(fn) {
      committed = fn;
    },
  };
}
