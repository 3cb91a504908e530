/**
 * The bus contract (DESIGN.md "Bus contract"). Every subject the flock uses is built here so
 * that permissions (issued per instance) and subscriptions can never drift apart.
 */
export const STREAMS = {
  /** Work queue: one durable consumer per deployment, replicas compete. */
  tasks: { name: 'FLOCK_TASKS', subjects: ['tasks.>'] },
  /** Results published by instances; kept until the control plane has recorded them. */
  results: { name: 'FLOCK_RESULTS', subjects: ['agent.*.results'] },
  /** Progress and log events published by instances. */
  events: { name: 'FLOCK_EVENTS', subjects: ['agent.*.events'] },
} as const;

export const subjects = {
  tasks: (agent: string) => `tasks.${agent}`,
  heartbeat: (instanceId: string) => `agent.${instanceId}.heartbeat`,
  events: (instanceId: string) => `agent.${instanceId}.events`,
  results: (instanceId: string) => `agent.${instanceId}.results`,
  rpc: (instanceId: string, service: string, op: string) => `agent.${instanceId}.rpc.${service}.${op}`,
  /** Control messages (cancel, stop) from the control plane to one instance. */
  control: (instanceId: string) => `ctl.${instanceId}`,
  /** Re-published, verified results for observers. */
  taskResult: 'task.result',
  broadcast: 'broadcast',
  allHeartbeats: 'agent.*.heartbeat',
  allRpc: 'agent.*.rpc.>',
  /**
   * Task messages pulled for one instance (`tasks.pull`), on `<this>.<request>`: the control
   * plane names it as the pull request's reply, and it reaches the instance as a stream.
   */
  deliveries: (instanceId: string) => `deliveries.${instanceId}`,
  /** The inbox prefix private to one instance: replies to its requests arrive under it. */
  inbox: (instanceId: string) => `_INBOX.${instanceId}`,
} as const;

/**
 * Where instances find the JetStream API. With per-instance credentials, instances live in an
 * account of their own that holds no stream; the flock account exports them only the
 * consumer calls they need, imported under this prefix (`nc.jetstream({ apiPrefix })`).
 * Every server reply to an instance is then published in the instances' account, where no
 * stream listens, whatever reply subject the instance named (docs/security.md, "Bus").
 */
export const INSTANCE_JS_API_PREFIX = 'FLOCK.JS.API';

/** Durable consumer name of a deployment's work queue. */
export const taskConsumerName = (agent: string) => `agent-${agent}`;

export type AgentSubjectKind = 'heartbeat' | 'events' | 'results' | 'rpc';

/**
 * The identity of a publisher comes from the subject it published on (which the server's
 * permissions enforce), never from the payload.
 */
export function parseAgentSubject(subject: string): { instanceId: string; kind: AgentSubjectKind } | null {
  const parts = subject.split('.');
  if (parts[0] !== 'agent' || parts.length < 3) return null;
  const instanceId = parts[1]!;
  const kind = parts[2];
  if (kind === 'heartbeat' || kind === 'events' || kind === 'results') {
    return parts.length === 3 ? { instanceId, kind } : null;
  }
  if (kind === 'rpc' && parts.length >= 5) return { instanceId, kind };
  return null;
}

/** `agent.<id>.rpc.<service>.<op>` → its parts; anything else (more or fewer tokens) → null. */
export function parseRpcSubject(subject: string): { instanceId: string; service: string; op: string } | null {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== 'agent' || parts[2] !== 'rpc') return null;
  const [, instanceId, , service, op] = parts as [string, string, string, string, string];
  return instanceId && service && op ? { instanceId, service, op } : null;
}

/** Most events one `batch` message on `agent.<id>.events` carries (events.ts, `AgentEventBatch`); here so the runtime reads it without loading zod. */
export const EVENT_BATCH_MAX = 100;

/** Most results one `batch` message on `agent.<id>.results` carries (task.ts, `TaskResultBatch`). */
export const RESULT_BATCH_MAX = 100;
