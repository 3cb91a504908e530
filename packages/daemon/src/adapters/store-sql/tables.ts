import type { Generated } from 'kysely';

/** Row shapes as stored. JSON is stored as text so every backend reads it the same way. */
export interface DeploymentsTable {
  name: string;
  digest: string;
  manifest: string;
  replicas: number;
  state: string;
  owner: string | null;
  created_at: string;
  updated_at: string;
}

export interface AgentRevisionsTable {
  agent: string;
  revision: number;
  digest: string;
  cid: string;
  document: string;
  overrides: string;
  cause: string;
  from_revision: number | null;
  changes: string;
  deployed_by: string | null;
  deployed_at: string;
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
  /** The task this one was delegated from (null for a task people or the flock queued). */
  parent_id: string | null;
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

export interface TokensTable {
  id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked: number;
}

export interface SessionsTable {
  hash: string;
  token_id: string;
  csrf_token: string;
  created_at: string;
  expires_at: string;
}

export interface JobEventsTable {
  seq: Generated<number>;
  job_id: string;
  type: string;
  ts: string;
  payload: string;
}

export interface LlmUsageTable {
  seq: Generated<number>;
  correlation_id: string;
  ts: string;
  caller: string;
  agent: string | null;
  instance_id: string | null;
  model: string;
  provider: string | null;
  provider_model: string | null;
  tokens_in: number;
  tokens_out: number;
  cost_micro: number;
  latency_ms: number;
  fallback_used: number;
  attempts: number;
  outcome: string;
}

export interface SecretsTable {
  name: string;
  sealed: string;
  created_at: string;
  updated_at: string;
}

/** One row per ledger transaction; never updated or deleted. */
export interface LedgerTxnsTable {
  id: string;
  idempotency_key: string;
  request_hash: string;
  from_account: string;
  to_account: string;
  amount: number | string;
  reason: string;
  source: string;
  post_id: string | null;
  correlation_id: string | null;
  meta: string;
  created_at: string;
}

/** Two rows per transaction (debit and credit); balances are sums over these. */
export interface LedgerEntriesTable {
  seq: Generated<number>;
  txn_id: string;
  account: string;
  amount: number | string;
}

export interface ComputeControlsTable {
  agent: string;
  frozen: number;
  note: string | null;
  updated_by: string;
  updated_at: string;
}

export interface BoardPostsTable {
  id: string;
  author_type: string;
  author_id: string;
  audience: string;
  title: string;
  body: string;
  tags: string;
  status: string;
  bounty: number | string;
  moderation: string;
  created_at: string;
  updated_at: string;
}

/** One row per (post, tag), so a tag filter is an indexed join rather than a text search. */
export interface BoardPostTagsTable {
  post_id: string;
  tag: string;
}

export interface BoardRepliesTable {
  id: string;
  post_id: string;
  author_type: string;
  author_id: string;
  body: string;
  created_at: string;
  /** Numbered by the database in the order replies become visible (see migration 0010). */
  seq: number | string | null;
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

export interface Database {
  secrets: SecretsTable;
  deployments: DeploymentsTable;
  agent_revisions: AgentRevisionsTable;
  tasks: TasksTable;
  instances: InstancesTable;
  llm_usage: LlmUsageTable;
  logs: LogsTable;
  audit_log: AuditTable;
  tokens: TokensTable;
  sessions: SessionsTable;
  job_events: JobEventsTable;
  ledger_txns: LedgerTxnsTable;
  ledger_entries: LedgerEntriesTable;
  compute_controls: ComputeControlsTable;
  board_posts: BoardPostsTable;
  board_post_tags: BoardPostTagsTable;
  board_replies: BoardRepliesTable;
  context_collections: ContextCollectionsTable;
  context_documents: ContextDocumentsTable;
  context_chunks: ContextChunksTable;
  agent_memories: AgentMemoriesTable;
  world_snapshots: WorldSnapshotsTable;
  world_inputs: WorldInputsTable;
  perception_cursors: PerceptionCursorsTable;
  task_steps: TaskStepsTable;
  chat_messages: ChatMessagesTable;
  human_questions: HumanQuestionsTable;
  nodes: NodesTable;
  node_join_tokens: NodeJoinTokensTable;
}

export interface TaskStepsTable {
  row_id: Generated<number>;
  task_id: string;
  agent: string;
  instance_id: string;
  seq: number;
  ts: string;
  kind: string;
  /** The whole step, JSON. */
  step: string;
}

export interface ChatMessagesTable {
  id: string;
  thread_id: string;
  agent: string;
  person: string;
  role: string;
  kind: string;
  text: string;
  task_id: string | null;
  created_at: string;
}

export interface HumanQuestionsTable {
  id: string;
  task_id: string;
  call_id: string;
  agent: string;
  question: string;
  where_to: string;
  thread_id: string | null;
  post_id: string | null;
  pause_deadline: number;
  asked_at: string;
  answer: string | null;
  answered_by: string | null;
  answered_at: string | null;
}

export interface WorldSnapshotsTable {
  id: string;
  /** bigint: PostgreSQL returns it as a string. */
  tick: number | string;
  state: string;
}

export interface WorldInputsTable {
  tick: number | string;
  inputs: string;
}

export interface PerceptionCursorsTable {
  agent: string;
  tick: number | string;
  reply_seq: number | string;
}

export interface NodesTable {
  name: string;
  labels: string;
  cordoned: number;
  draining: number;
  capacity: string | null;
  joined_at: string;
  last_heartbeat_at: string | null;
  version: string | null;
  credential_id: string | null;
}

export interface NodeJoinTokensTable {
  id: string;
  hash: string;
  single_use: number;
  expires_at: string;
  used_at: string | null;
  used_by: string | null;
  created_by: string | null;
  created_at: string;
}
