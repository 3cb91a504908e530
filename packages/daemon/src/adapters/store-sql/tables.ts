import type { Generated } from 'kysely';

/** Row shapes as stored. JSON is stored as text so every backend reads it the same way. */
export interface DeploymentsTable {
  name: string;
  digest: string;
  manifest: string;
  replicas: number;
  state: string;
  created_at: string;
  updated_at: string;
}

export interface TasksTable {
  id: string;
  agent: string;
  type: string;
  status: string;
  input: string;
  result: string | null;
  output: string | null;
  error: string | null;
  attempt: number;
  max_attempts: number;
  instance_id: string | null;
  idempotency_key: string | null;
  request_hash: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  deadline: string;
  queue_seq: number | null;
}

export interface InstancesTable {
  id: string;
  agent: string;
  status: string;
  handle: string | null;
  node: string;
  started_at: string | null;
  last_heartbeat_at: string | null;
  exit_code: number | null;
  oom_killed: number;
}

export interface LogsTable {
  seq: Generated<number>;
  ts: string;
  level: string;
  msg: string;
  agent: string;
  instance_id: string;
  task_id: string | null;
}

/** Append-only: the store only ever inserts here (see docs/audit.md). */
export interface AuditTable {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  resource: string;
  outcome: string;
  request_id: string | null;
  correlation_id: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export interface Database {
  deployments: DeploymentsTable;
  tasks: TasksTable;
  instances: InstancesTable;
  logs: LogsTable;
  audit_log: AuditTable;
  context_collections: ContextCollectionsTable;
  context_documents: ContextDocumentsTable;
  context_chunks: ContextChunksTable;
  agent_memories: AgentMemoriesTable;
}

export interface ContextCollectionsTable {
  name: string;
  model: string;
  dimension: number;
  shared_with: string;
  created_at: string;
  updated_at: string;
}

export interface ContextDocumentsTable {
  collection: string;
  id: string;
  kind: string;
  source: string;
  title: string | null;
  tags: string;
  owner: string | null;
  content_hash: string;
  created_at: string;
  updated_at: string;
}

/** `embedding` is the vector as JSON numbers (float32 values, so text round-trips exactly). */
export interface ContextChunksTable {
  collection: string;
  id: string;
  document_id: string;
  ord: number;
  heading: string | null;
  text: string;
  tokens: number;
  model: string;
  embedding: string;
}

export interface AgentMemoriesTable {
  id: string;
  agent: string;
  kind: string;
  text: string;
  importance: number;
  created_at: string;
  last_accessed_at: string;
  model: string;
  embedding: string;
}
