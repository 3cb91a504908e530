import * as z from 'zod';
import { AgentName, InstanceId, TaskId } from './names.js';
import { LogLevel } from './events.js';
import { TaskStatus, TaskType } from './task.js';
import { Villager } from './world.js';
import { ModelPin } from './local-models.js';
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

/**
 * What the sandbox's own health check says (Docker's HEALTHCHECK on the runtime's liveness
 * file): `starting` until it first passes; null where the runtime has no such check or has
 * not been asked yet. The reconciler judges liveness on heartbeats; this is the sandbox's view.
 */
export const SandboxHealth = z.enum(['starting', 'healthy', 'unhealthy']);
export type SandboxHealth = z.infer<typeof SandboxHealth>;

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
  health: SandboxHealth.nullable(),
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
  /** Why an instance the agent needs is not placed: no node fits (each node's objection named). */
  pending: z.string().nullable().optional(),
  /** Its warm pool (manifest `scaling.warm`): started sandboxes of its image and profile waiting, and how many it wants. */
  warm: z.object({ ready: z.number().int(), wanted: z.number().int() }).nullable().optional(),
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

/**
 * Deploy a manifest (its text), or a stored one by `ref`: its digest (`sha256:<hex>`) or CIDv1.
 * `set` overrides fields of either (`resources.memory=1Gi`), and is part of the revision stored.
 */
export const DeployRequest = z
  .object({
    manifest: z.string().min(1, 'the manifest text').max(1024 * 1024).optional(),
    filename: z.string().max(500).optional(),
    ref: z.string().min(1).max(200).optional(),
    set: z.array(z.string().min(3).max(4096)).max(100).optional(),
  })
  .strict()
  .refine((b) => (b.manifest === undefined) !== (b.ref === undefined), { message: 'give either manifest (the text) or ref (a digest or CID), not both', path: ['manifest'] });
export type DeployRequest = z.infer<typeof DeployRequest>;

/** Something a dialect translation kept that has no effect here, and why. */
export const ManifestNote = z.object({ field: z.string(), message: z.string() });

/** `POST /v1/agents/convert`: a manifest in either dialect, shown as the manifest it deploys as. */
export const ConvertRequest = z
  .object({
    manifest: z.string().min(1, 'the manifest text').max(1024 * 1024),
    filename: z.string().max(500).optional(),
  })
  .strict();
export type ConvertRequest = z.infer<typeof ConvertRequest>;

export const ConvertResponse = z.object({
  dialect: z.enum(['aiflock', 'cim']),
  digest: z.string(),
  /** The manifest as written in our dialect (before defaults). */
  manifest: z.record(z.string(), z.unknown()),
  /** The same as text: YAML, or front matter and persona for an agent.md. */
  text: z.string(),
  notes: z.array(ManifestNote),
});
export type ConvertResponse = z.infer<typeof ConvertResponse>;

export const DeployResponse = z.object({
  agent: AgentView,
  changed: z.boolean(),
  /** The agent's revision now running; null for an agent deployed before revisions were kept. */
  revision: z.number().int().nullable().optional(),
  notes: z.array(ManifestNote).optional(),
});
export type DeployResponse = z.infer<typeof DeployResponse>;

/** One deploy that changed an agent (`aiflock agent history`). */
export const RevisionView = z.object({
  revision: z.number().int(),
  digest: z.string(),
  cid: z.string(),
  cause: z.enum(['deploy', 'deploy-ref', 'rollback']),
  fromRevision: z.number().int().nullable(),
  overrides: z.array(z.string()),
  /** Manifest fields that differ from the previous revision. */
  changes: z.array(z.string()),
  deployedBy: z.string().nullable(),
  deployedAt: z.string(),
  /** Whether the agent runs this revision's manifest now. */
  current: z.boolean(),
});
export type RevisionView = z.infer<typeof RevisionView>;

export const RevisionList = z.object({ agent: z.string(), revisions: z.array(RevisionView) });
export type RevisionList = z.infer<typeof RevisionList>;

/** Roll back to a revision number or a digest/CID in the history; the previous revision when absent. */
export const RollbackRequest = z.object({ to: z.union([z.number().int().min(1), z.string().min(1).max(200)]).optional() }).strict();
export type RollbackRequest = z.infer<typeof RollbackRequest>;

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
  /** The task this one was delegated from by another agent (`ctx.delegate`); absent otherwise. */
  parentId: TaskId.optional(),
});
export type TaskView = z.infer<typeof TaskView>;

export const TaskList = z.object({ tasks: z.array(TaskView), nextCursor: z.string().nullable() });
export type TaskList = z.infer<typeof TaskList>;

/** `{id}` in a task's (and a job's) routes. */
export const TaskIdParams = z.object({ id: TaskId });
/** `GET /v1/tasks` and `/v1/jobs`: `status` is comma-separated; page with `cursor` = the last `nextCursor`. */
export const TaskListQuery = z
  .object({
    agent: AgentName.optional(),
    status: z
      .string()
      .transform((s) => s.split(','))
      .pipe(z.array(TaskStatus))
      .optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: TaskId.optional(),
    /** Only the tasks delegated from this task. */
    parent: TaskId.optional(),
  })
  .strict();
/** `GET /v1/tasks/{id}/logs`: `follow` streams NDJSON lines instead. */
export const TaskLogsQuery = z.object({ follow: z.enum(['true', 'false', '1', '0']).optional() }).strict();
/** `GET /v1/tasks/{id}/wait`: how long to hold the request open, at most a minute. */
export const TaskWaitQuery = z.object({ timeoutMs: z.coerce.number().int().min(0).max(60_000).default(30_000) }).strict();

/** The most tasks one batch create may carry; bigger loads are sent as several batches. */
export const MAX_TASK_BATCH = 1000;

/** One task of a batch create: a create request, with its own idempotency key. */
export const CreateTaskBatchItem = CreateTaskRequest.extend({ idempotencyKey: IdempotencyKey.optional() }).strict();
export type CreateTaskBatchItem = z.infer<typeof CreateTaskBatchItem>;

/** `POST /v1/tasks:batch`. Items are checked one by one: a bad item fails alone. */
export const CreateTaskBatchRequest = z.object({ tasks: z.array(CreateTaskBatchItem).min(1).max(MAX_TASK_BATCH) }).strict();
export type CreateTaskBatchRequest = z.infer<typeof CreateTaskBatchRequest>;
/**
 * The batch's envelope only, as the route first reads it: items are then checked one by one,
 * so one bad item is refused on its own (with its index and field) while the others are queued.
 */
export const TaskBatchEnvelope = z.object({ tasks: z.array(z.unknown()).min(1).max(MAX_TASK_BATCH) }).strict();

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
  /** The flock's nodes (hosts): absent from daemons that predate them. */
  nodes: z.array(z.object({ name: z.string(), status: z.string(), cordoned: z.boolean(), draining: z.boolean(), instances: z.number().int() })).optional(),
  /** The LLM gateway: which providers serve which models, or plainly why there is none. */
  llm: z
    .object({
      available: z.boolean(),
      detail: z.string(),
      models: z.array(z.string()),
      /** The models whose route can call tools natively (the agent loop needs one); the embedded model cannot. */
      toolModels: z.array(z.string()).optional(),
      breakers: z.record(z.string(), z.string()),
      /** The config's pinned model versions as last checked against the local model server (start, reload, `models list`). */
      pins: z.array(ModelPin).optional(),
    })
    .optional(),
});
export type SystemStatus = z.infer<typeof SystemStatus>;

/** `PUT /v1/secrets/{name}`: the value travels in the body only (never a URL or argv). */
export const SetSecretRequest = z.object({ value: z.string().min(1, 'the value is empty') }).strict();
export type SetSecretRequest = z.infer<typeof SetSecretRequest>;

export const SecretView = z.object({ name: z.string(), createdAt: z.string(), updatedAt: z.string() });
export type SecretView = z.infer<typeof SecretView>;

/** `{name}` in an agent's routes. */
export const AgentNameParams = z.object({ name: AgentName });

export const AgentList = z.object({ agents: z.array(AgentView) });

/** `POST /v1/agents/{name}/restart`: the instances stopped; the reconciler starts their successors. */
export const AgentRestarted = z.object({ agent: AgentView, replaced: z.array(z.string()) });
export type AgentRestarted = z.infer<typeof AgentRestarted>;
/** `POST /v1/agents/{name}/reset`: a restart that also forgot the agent's memory stream and emptied its workspace. */
export const AgentReset = AgentRestarted.extend({ memoriesForgotten: z.number().int(), workspaceWiped: z.boolean() });
export type AgentReset = z.infer<typeof AgentReset>;
export type AgentList = z.infer<typeof AgentList>;

/** `GET /v1/agents/{name}/logs`: `follow` streams NDJSON lines instead. */
export const LogsQuery = z
  .object({
    follow: z.enum(['true', 'false', '1', '0']).optional(),
    tail: z.coerce.number().int().min(0).max(10_000).default(200),
  })
  .strict();

export const LogLines = z.object({ lines: z.array(LogLine) });
export type LogLines = z.infer<typeof LogLines>;

export const SecretNameParams = z.object({ name: z.string().min(1).max(200) });
export const SecretList = z.object({ secrets: z.array(SecretView) });
export type SecretList = z.infer<typeof SecretList>;

/** `GET /v1/logs`: the logs of every agent, or of those named, as `aiflock logs` reads them. */
export const FlockLogsQuery = z
  .object({
    /** Comma-separated agent names; absent means every agent. */
    agents: z
      .string()
      .max(4000)
      .transform((s) => s.split(',').filter(Boolean))
      .pipe(z.array(AgentName).max(200))
      .optional(),
    /** Lines at or after this time. */
    since: z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString()).optional(),
    tail: z.coerce.number().int().min(0).max(10_000).default(200),
    follow: z.enum(['true', 'false', '1', '0']).optional(),
  })
  .strict();

/** One instance's resource use as its runtime measures it; `usage` is null when it cannot (not running, or a runtime that does not measure). */
/** What an instance uses now, as its runtime (here or on its node) measures it. */
export const SandboxUsage = z.object({
  cpuPercent: z.number(),
  memoryBytes: z.number(),
  memoryLimitBytes: z.number(),
  netRxBytes: z.number(),
  netTxBytes: z.number(),
  pids: z.number(),
  restarts: z.number(),
});
export const InstanceStats = z.object({
  id: z.string(),
  agent: AgentName,
  status: z.string(),
  usage: SandboxUsage.nullable(),
});
export type InstanceStats = z.infer<typeof InstanceStats>;
export const InstanceStatsList = z.object({ instances: z.array(InstanceStats) });
