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
  /**
   * Answers to one instance's RPC requests, on `<this>.<token>`: the instance names it in the
   * RPC_REPLY_HEADER and the control plane publishes there, so the answer reaches it as a
   * stream, which an update of the agents account leaves alone (rpc.ts).
   */
  replies: (instanceId: string) => `replies.${instanceId}`,
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

/**
 * A pull request on an agent's task queue: JetStream's `CONSUMER.MSG.NEXT` for its consumer,
 * for `batch` messages within `expiresMs`, published with the reply subject the messages are
 * delivered to. The control plane makes them (`tasks.pull`); an instance makes its own, under
 * INSTANCE_JS_API_PREFIX, only while the control plane does not answer.
 */
export function taskPullRequest(agent: string, pull: { batch: number; expiresMs: number }, apiPrefix = '$JS.API'): { subject: string; body: string } {
  return {
    subject: `${apiPrefix}.CONSUMER.MSG.NEXT.${STREAMS.tasks.name}.${taskConsumerName(agent)}`,
    body: JSON.stringify({ batch: pull.batch, expires: Math.round(pull.expiresMs * 1e6) }),
  };
}

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

/**
 * The header a request names its answer's subject with: `replies.<instanceId>.<token>`
 * (`subjects.replies`), which the flock exports to the agents account as a stream. The server's
 * reply route for a service import is dropped whenever the agents account is updated (every
 * revocation), and an answer on it is then lost; a stream import is left alone. The control
 * plane publishes there only when the subject is exactly the caller's own (`isReplySubjectOf`),
 * and otherwise answers on the route as before (agents that do not name one). It lives here,
 * not in rpc.ts beside RPC_STREAM_HEADER, so the agent runtime's idle path reads it without
 * loading zod.
 */
export const RPC_REPLY_HEADER = 'aiflock-reply';

/** One token of a reply subject: what the agent SDK makes (a NUID), nothing a wildcard or a dot could widen. */
const REPLY_TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Whether `named` is exactly `replies.<instanceId>.<one token>`: the only subject the control
 * plane answers an RPC of `instanceId` on, other than the server's own reply route. Anything
 * else (another instance's replies, a wildcard, more tokens, a subject a stream captures) is
 * not a reply subject of this caller.
 */
export function isReplySubjectOf(instanceId: string, named: string): boolean {
  const prefix = `${subjects.replies(instanceId)}.`;
  return /^[^\s.*>]+$/.test(instanceId) && named.startsWith(prefix) && REPLY_TOKEN.test(named.slice(prefix.length));
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
