import { z } from 'zod';
import { AgentName, InstanceId, TaskId } from './names.js';
import { LogLevel } from './events.js';
import { TaskStatus, TaskType } from './task.js';
import { Villager } from './world.js';
import { IdempotencyKey } from './economy.js';

/** Shapes of the HTTP API (`/v1`), shared by the daemon (which produces them) and the CLI. */

export const ApiError = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
    requestId: z.string(),
  }),
});
export type ApiError = z.infer<typeof ApiError>;

/** `paused`: frozen by quarantine (kill switch), kept for inspection. */
export const InstanceStatus = z.enum(['starting', 'running', 'unhealthy', 'exited', 'stopped', 'paused']);
export type InstanceStatus = z.infer<typeof InstanceStatus>;

export const InstanceView = z.object({
  id: InstanceId,
  agent: AgentName,
  status: InstanceStatus,
  containerId: z.string().nullable(),
  node: z.string(),
  startedAt: z.string().nullable(),
  lastHeartbeatAt: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  oomKilled: z.boolean(),
});
export type InstanceView = z.infer<typeof InstanceView>;

export const AgentStatus = z.enum(['deploying', 'running', 'degraded', 'stopped', 'quarantined']);
export type AgentStatus = z.infer<typeof AgentStatus>;

/** A villager as `GET /agents/{name}` describes it: where it is, what it does and its last actions. */
export const AgentWorld = Villager.pick({ x: true, y: true, activity: true, goal: true, policy: true, model: true, status: true }).extend({
  recent: z.array(z.object({ tick: z.number().int(), what: z.string() })),
});
export type AgentWorld = z.infer<typeof AgentWorld>;

export const AgentView = z.object({
  name: AgentName,
  version: z.string(),
  description: z.string(),
  digest: z.string(),
  image: z.string(),
  profile: z.string(),
  handlers: z.array(z.string()),
  status: AgentStatus,
  replicas: z.object({ desired: z.number().int(), running: z.number().int(), ready: z.number().int() }),
  resources: z.object({ cpu: z.number(), memoryBytes: z.number().int(), pids: z.number().int(), taskTimeoutMs: z.number().int() }),
  heartbeatMs: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  instances: z.array(InstanceView),
  /** Who owns the agent (the identity that deployed it); owners may not reward it. */
  owner: z.string().nullable().optional(),
  /** Compute tier and limits in force (GET /agents/{name} only). */
  economy: z
    .object({
      tier: z.string(),
      basis: z.enum(['balance', 'purchase', 'frozen']),
      balance: z.number().int(),
      frozen: z.boolean(),
      until: z.string().nullable(),
      limits: z.object({
        models: z.array(z.string()),
        requestsPerMinute: z.number().int(),
        tokensPerHour: z.number().int(),
        concurrentCalls: z.number().int(),
        concurrentToolRuns: z.number().int(),
      }),
    })
    .optional(),
  /** Its body in the village (GET /agents/{name} only); null when its manifest has no village section. */
  world: AgentWorld.nullable().optional(),
});
export type AgentView = z.infer<typeof AgentView>;

export const DeployRequest = z
  .object({
    manifest: z.string().min(1, 'the manifest text').max(1024 * 1024),
    filename: z.string().max(500).optional(),
  })
  .strict();
export type DeployRequest = z.infer<typeof DeployRequest>;

export const DeployResponse = z.object({ agent: AgentView, changed: z.boolean() });
export type DeployResponse = z.infer<typeof DeployResponse>;

export const ScaleRequest = z.object({ replicas: z.number().int().min(0).max(100) }).strict();

export const CreateTaskRequest = z
  .object({
    agent: AgentName,
    type: TaskType.optional(),
    input: z.unknown(),
    timeoutMs: z.number().int().min(100).max(7 * 24 * 3600 * 1000).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
  })
  .strict();
export type CreateTaskRequest = z.infer<typeof CreateTaskRequest>;

export const TaskView = z.object({
  id: TaskId,
  agent: AgentName,
  type: z.string(),
  status: TaskStatus,
  input: z.unknown(),
  result: z.string().nullable(),
  output: z.unknown().optional(),
  error: z.string().nullable(),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  instanceId: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  deadline: z.string(),
});
export type TaskView = z.infer<typeof TaskView>;

export const TaskList = z.object({ tasks: z.array(TaskView), nextCursor: z.string().nullable() });
export type TaskList = z.infer<typeof TaskList>;

/** The most tasks one batch create may carry; bigger loads are sent as several batches. */
export const MAX_TASK_BATCH = 1000;

/** One task of a batch create: a create request, with its own idempotency key. */
export const CreateTaskBatchItem = CreateTaskRequest.extend({ idempotencyKey: IdempotencyKey.optional() }).strict();
export type CreateTaskBatchItem = z.infer<typeof CreateTaskBatchItem>;

/** `POST /v1/tasks:batch`. Items are checked one by one: a bad item fails alone. */
export const CreateTaskBatchRequest = z.object({ tasks: z.array(CreateTaskBatchItem).min(1).max(MAX_TASK_BATCH) }).strict();
export type CreateTaskBatchRequest = z.infer<typeof CreateTaskBatchRequest>;

/** The outcome of one item, at its index in the request. */
export const TaskBatchItemResult = z.discriminatedUnion('ok', [
  z.object({ index: z.number().int(), ok: z.literal(true), created: z.boolean(), task: TaskView }),
  z.object({ index: z.number().int(), ok: z.literal(false), status: z.number().int(), error: ApiError.shape.error.omit({ requestId: true }) }),
]);
export type TaskBatchItemResult = z.infer<typeof TaskBatchItemResult>;

export const TaskBatchResponse = z.object({
  results: z.array(TaskBatchItemResult),
  created: z.number().int(),
  existing: z.number().int(),
  failed: z.number().int(),
});
export type TaskBatchResponse = z.infer<typeof TaskBatchResponse>;

export const LogLine = z.object({
  seq: z.number().int(),
  ts: z.string(),
  level: LogLevel,
  msg: z.string(),
  agent: AgentName,
  instanceId: z.string(),
  taskId: z.string().nullable(),
});
export type LogLine = z.infer<typeof LogLine>;

/** Tasks finished in the daemon's last window (a minute): the rate and creation → final status latency. */
export const TaskThroughput = z.object({
  windowSeconds: z.number(),
  finished: z.number().int(),
  perSecond: z.number(),
  latencyMs: z.object({ p50: z.number(), p90: z.number(), p99: z.number() }).nullable(),
});
export type TaskThroughput = z.infer<typeof TaskThroughput>;

export const SystemStatus = z.object({
  version: z.string(),
  pid: z.number().int(),
  uptimeMs: z.number().int(),
  apiUrl: z.string(),
  dataDir: z.string(),
  checks: z.record(
    z.string(),
    z.object({ ok: z.boolean(), detail: z.string() }),
  ),
  agents: z.object({ deployed: z.number().int(), instancesRunning: z.number().int(), instancesDesired: z.number().int() }),
  tasks: z.record(z.string(), z.number().int()),
  /** Tasks finished lately; absent from daemons that predate it. */
  throughput: TaskThroughput.optional(),
  /** The LLM gateway: which providers serve which models, or plainly why there is none. */
  llm: z
    .object({
      available: z.boolean(),
      detail: z.string(),
      models: z.array(z.string()),
      /** The models whose route can call tools natively (the agent loop needs one); the embedded model cannot. */
      toolModels: z.array(z.string()).optional(),
      breakers: z.record(z.string(), z.string()),
    })
    .optional(),
});
export type SystemStatus = z.infer<typeof SystemStatus>;

/** `PUT /v1/secrets/{name}`: the value travels in the body only (never a URL or argv). */
export const SetSecretRequest = z.object({ value: z.string().min(1, 'the value is empty') }).strict();
export type SetSecretRequest = z.infer<typeof SetSecretRequest>;

export const SecretView = z.object({ name: z.string(), createdAt: z.string(), updatedAt: z.string() });
export type SecretView = z.infer<typeof SecretView>;
