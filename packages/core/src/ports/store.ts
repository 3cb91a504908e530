import type { TaskStatus, InstanceStatus, LogLevel } from '@aiflock/protocol';
import type { Manifest } from '../manifest/schema.js';
import type { AuditStore } from './audit.js';
import type { ContextStore } from './context-store.js';

export interface DeploymentRecord {
  name: string;
  digest: string;
  manifest: Manifest;
  /** Desired replicas. */
  replicas: number;
  state: 'active' | 'stopped';
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

export interface LogRecord {
  seq: number;
  ts: string;
  level: LogLevel;
  msg: string;
  agent: string;
  instanceId: string;
  taskId: string | null;
}

export interface TaskFilter {
  agent?: string;
  status?: TaskStatus[];
  /** Return tasks created before this task id (ids sort by time). */
  before?: string;
  limit: number;
}

export interface LogFilter {
  agent?: string;
  taskId?: string;
  afterSeq?: number;
  limit: number;
  /** Newest `limit` lines (still returned oldest first) instead of the oldest. */
  tail?: boolean;
}

export interface Store {
  readonly kind: string;
  deployments: {
    get(name: string): Promise<DeploymentRecord | undefined>;
    list(): Promise<DeploymentRecord[]>;
    upsert(record: DeploymentRecord): Promise<void>;
    remove(name: string): Promise<void>;
  };
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
  };
  audit: AuditStore;
  /** Collections, documents, chunks and agent memories (the memory and context plane). */
  context: ContextStore;
  ping(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}
