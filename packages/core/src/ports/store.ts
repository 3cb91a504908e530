import type { TaskStatus, InstanceStatus, LogLevel } from '@aiflock/protocol';
import type { LlmUsageEvent } from '../llm/gateway.js';
import type { Manifest } from '../manifest/schema.js';
import type { AuditStore } from './audit.js';
import type { LedgerStore } from './ledger.js';
import type { BoardStore } from './board.js';
import type { ComputeControlStore } from './compute-controls.js';
import type { ContextStore } from './context-store.js';
import type { WorldStore } from './world-store.js';
import type { PerceptionStore } from './perception-store.js';
import type { TaskStepStore } from './task-step-store.js';
import type { PeopleStore } from './people-store.js';
import type { RevisionStore } from './revision-store.js';
import type { NodeStore } from './node-store.js';

export interface DeploymentRecord {
  name: string;
  digest: string;
  manifest: Manifest;
  /** Desired replicas. */
  replicas: number;
  /** `quarantined`: instances are frozen and cut off, kept for inspection (kill switch). */
  state: 'active' | 'stopped' | 'quarantined';
  /**
   * The person who owns the agent: whoever first deployed it (their token id), or the
   * manifest's `owner` when an admin deployed it for someone. Owners may not reward it.
   */
  owner?: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TaskRecord {
  id: string;
  agent: string;
  type: string;
  status: TaskStatus;
  input: unknown;
  result: string | null;
  output: unknown;
  error: string | null;
  attempt: number;
  maxAttempts: number;
  instanceId: string | null;
  idempotencyKey: string | null;
  /** Hash of the create request, to tell a retry from a different request with the same key. */
  requestHash: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  deadline: string;
  /** Sequence of the task message in the work-queue stream, so a queued task can be withdrawn. */
  queueSeq: number | null;
  /** The task this one was delegated from (`ctx.delegate`); null or absent when people or the flock queued it. */
  parentId?: string | null;
}

export interface InstanceRecord {
  id: string;
  agent: string;
  status: InstanceStatus;
  handle: string | null;
  node: string;
  startedAt: string | null;
  lastHeartbeatAt: string | null;
  exitCode: number | null;
  oomKilled: boolean;
}

export interface LogBounds {
  /** ISO time: older rows go. */
  before: string;
  perInstance: number;
  total: number;
}

export interface LogRecord {
  seq: number;
  ts: string;
  level: LogLevel;
  msg: string;
  agent: string;
  instanceId: string;
  taskId: string | null;
}

/** A secret as stored: the value only ever sealed (see the SecretCipher port). */
export interface SecretRecord {
  name: string;
  sealed: string;
  createdAt: string;
  updatedAt: string;
}

export interface TaskFilter {
  agent?: string;
  status?: TaskStatus[];
  /** Return tasks created before this task id (ids sort by time). */
  before?: string;
  /** Only tasks delegated from this task. */
  parentId?: string;
  limit: number;
}

export interface LogFilter {
  agent?: string;
  /** Any of these agents (with `agent`, both must hold). */
  agents?: readonly string[];
  /** Lines at or after this ISO time. */
  since?: string;
  taskId?: string;
  afterSeq?: number;
  limit: number;
  /** Newest `limit` lines (still returned oldest first) instead of the oldest. */
  tail?: boolean;
}

/** The task path's writes, all inside one transaction (see `Store.together`). */
export interface TaskPathWrites {
  tasks: Pick<Store['tasks'], 'insert' | 'get' | 'transition'>;
  logs: Pick<Store['logs'], 'append'>;
  taskSteps: Pick<Store['taskSteps'], 'append'>;
  jobEvents: Pick<AuthStore['jobEvents'], 'append'>;
}

export interface Store extends AuthStore {
  readonly kind: string;
  /**
   * Runs `fn`'s writes in one transaction, committed with whatever group it joins (the SQL
   * store's group commit): a task's status change and what records it (its job events, its
   * log line) then cost one commit instead of one each, and land together or not at all.
   * `fn` must do nothing but those writes (no bus, no waiting on other work): it holds the
   * transaction. It may run again, alone, if its group fails. `row`: the task it changes,
   * which orders row locks across concurrent groups.
   */
  together<T>(row: string, fn: (w: TaskPathWrites) => Promise<T>): Promise<T>;
  deployments: {
    get(name: string): Promise<DeploymentRecord | undefined>;
    list(): Promise<DeploymentRecord[]>;
    upsert(record: DeploymentRecord): Promise<void>;
    remove(name: string): Promise<void>;
  };
  revisions: RevisionStore;
  nodes: NodeStore;
  tasks: {
    /** Inserts, or returns the existing task with the same (agent, idempotencyKey). */
    insert(record: TaskRecord): Promise<{ inserted: boolean; task: TaskRecord }>;
    get(id: string): Promise<TaskRecord | undefined>;
    list(filter: TaskFilter): Promise<TaskRecord[]>;
    /** Compare-and-set: applies `patch` only if the task is in one of `from`. */
    transition(id: string, from: readonly TaskStatus[], patch: Partial<TaskRecord>): Promise<TaskRecord | undefined>;
    /** Non-terminal tasks whose deadline is before `now`. */
    overdue(now: string, limit: number): Promise<TaskRecord[]>;
    countByStatus(): Promise<Record<string, number>>;
  };
  instances: {
    upsert(record: InstanceRecord): Promise<void>;
    get(id: string): Promise<InstanceRecord | undefined>;
    list(agent?: string): Promise<InstanceRecord[]>;
    remove(id: string): Promise<void>;
  };
  logs: {
    append(lines: Omit<LogRecord, 'seq'>[]): Promise<void>;
    list(filter: LogFilter): Promise<LogRecord[]>;
    /** Delete rows older than `before`, all but the newest `perInstance` of each instance and the newest `total` in all; returns how many went. */
    prune(bounds: LogBounds): Promise<number>;
    /** The rows of `agent` move to the name `to` (archived: no later agent of that name sees them), or are deleted (`to` null). */
    reassign(agent: string, to: string | null): Promise<number>;
  };
  audit: AuditStore;
  /** Priced LLM calls, append-only, for the ledger and for audits. */
  llmUsage: {
    append(e: LlmUsageEvent): Promise<void>;
    /** Newest first. */
    list(filter: { agent?: string; limit: number }): Promise<LlmUsageEvent[]>;
    /** Calls recorded at or after `ts` (ISO), oldest first: replayed into the entitlement counters at start. */
    since(ts: string, limit: number): Promise<LlmUsageEvent[]>;
  };
  secrets: {
    put(record: SecretRecord): Promise<void>;
    get(name: string): Promise<SecretRecord | undefined>;
    /** Names and dates only: listing never needs to touch a sealed value. */
    list(): Promise<Omit<SecretRecord, 'sealed'>[]>;
    /** True when it existed. */
    remove(name: string): Promise<boolean>;
  };
  ledger: LedgerStore;
  board: BoardStore;
  computeControls: ComputeControlStore;
  /** Collections, documents, chunks and agent memories (the memory and context plane). */
  context: ContextStore;
  /** The village's latest snapshot and the input log since. */
  world: WorldStore;
  /** Where each villager's perception left off (heard lines and board replies delivered). */
  perception: PerceptionStore;
  /** The steps agent loops report (`task.step` events). */
  taskSteps: TaskStepStore;
  /** Direct chat threads with agents and agents' questions to people. */
  people: PeopleStore;
  ping(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}

export interface TokenRecord {
  id: string;
  name: string;
  /** sha256 of the secret; the secret itself is shown once and never stored. */
  hash: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revoked: boolean;
}

export interface SessionRecord {
  /** sha256 of the cookie value. */
  hash: string;
  tokenId: string;
  /** Sent back by the browser in x-csrf-token on every state-changing request. */
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
}

export type JobEventType = 'log' | 'status' | 'result' | 'error' | 'step';

/** One entry of a job's stream; `seq` increases across the whole table, so resuming is `seq > after`. */
export interface JobEventRecord {
  seq: number;
  jobId: string;
  type: JobEventType;
  ts: string;
  payload: unknown;
}

/** Token, session and job-stream repositories; kept apart from `Store` so the port grows additively. */
export interface AuthStore {
  tokens: {
    insert(record: TokenRecord): Promise<void>;
    get(id: string): Promise<TokenRecord | undefined>;
    getByHash(hash: string): Promise<TokenRecord | undefined>;
    list(): Promise<TokenRecord[]>;
    count(): Promise<number>;
    /** Marks revoked; returns the record, or undefined when there is no such token. */
    revoke(id: string): Promise<TokenRecord | undefined>;
    touch(id: string, at: string): Promise<void>;
  };
  sessions: {
    insert(record: SessionRecord): Promise<void>;
    getByHash(hash: string): Promise<SessionRecord | undefined>;
    remove(hash: string): Promise<void>;
  };
  jobEvents: {
    append(events: Omit<JobEventRecord, 'seq'>[]): Promise<void>;
    list(filter: { jobId: string; afterSeq?: number; limit: number }): Promise<JobEventRecord[]>;
  };
}
