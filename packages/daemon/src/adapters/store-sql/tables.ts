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

export interface SecretsTable {
  name: string;
  sealed: string;
  created_at: string;
  updated_at: string;
}

export interface Database {
  secrets: SecretsTable;
  deployments: DeploymentsTable;
  tasks: TasksTable;
  instances: InstancesTable;
  logs: LogsTable;
}
