import type { BroadcastMessage, ControlMessage, Task, TaskResult } from '@aiflock/protocol';
import type { HealthCheck } from './sandbox-runtime.js';
import type { ManifestArtefacts } from './revision-store.js';

export interface QueueOptions {
  /** How long a delivered task may go unacknowledged before it is redelivered. */
  ackWaitMs: number;
  maxDeliver: number;
}

export interface QueueStats {
  /** Waiting to be delivered. */
  pending: number;
  /** Delivered, not yet acknowledged. */
  inFlight: number;
  /** Delivered more than once and not yet acknowledged (the bus's own count). */
  redelivered: number;
}

/** A message from an instance; the instance id comes from the subject, never the payload. */
export interface InboundMessage {
  instanceId: string;
  payload: unknown;
}

export type InboundHandler = (msg: InboundMessage) => Promise<void>;

/** The bus gave up on a task: delivered its maximum number of times without an acknowledgement. */
export interface DeadLetter {
  taskId: string;
  /** How many times it was delivered, when the bus says. */
  deliveries: number | null;
}
export type DeadLetterHandler = (d: DeadLetter) => Promise<void>;

/** A request from an instance on `agent.<instanceId>.rpc.<service>.<op>`. */
export interface RpcRequest {
  /** From the subject (which the server's permissions enforce), never from the payload. */
  instanceId: string;
  service: string;
  op: string;
  /** Decoded JSON, or undefined when the body is not JSON. */
  payload: unknown;
  /**
   * The caller's name for this exchange: the reply subject it chose (which `stream.cancel`
   * names); empty for a notification. Answers go through `respond`, never to this subject.
   */
  reply: string;
  /** Send a message to the request's reply subject; streaming ops call it once per frame. */
  respond(data: unknown): void;
}

export type RpcHandler = (req: RpcRequest) => Promise<void>;

export interface Bus {
  readonly kind: string;
  /** Create the streams the flock uses. Idempotent. */
  init(): Promise<void>;
  ensureQueue(agent: string, opts: QueueOptions): Promise<void>;
  /** Manifests by content, shared by every host on this bus (JetStream's object store). */
  readonly artefacts?: ManifestArtefacts;
  removeQueue(agent: string): Promise<void>;
  /**
   * Cap the agent's tasks in flight (delivered, not yet acknowledged) across all its
   * instances, enforced by the bus itself (the compute tier's concurrent tool runs).
   * Optional: a bus without it leaves the queue uncapped.
   */
  limitQueue?(agent: string, maxInFlight: number): Promise<void>;
  /** Enqueue; the task id deduplicates a retried publish. Returns the stream sequence. */
  enqueue(task: Task): Promise<number>;
  /** Withdraw a task not yet delivered. False if it is no longer in the queue. */
  withdraw(seq: number): Promise<boolean>;
  queueDepth(agent: string): Promise<number>;
  /** Work-queue counters for metrics; undefined when the queue does not exist. */
  queueStats?(agent: string): Promise<QueueStats | undefined>;
  control(instanceId: string, msg: ControlMessage): Promise<void>;
  publishVerifiedResult(result: TaskResult): Promise<void>;
  /** An announcement to every instance on the `broadcast` subject; resolves once the server has it. */
  broadcast?(message: BroadcastMessage): Promise<void>;
  /** Handlers are acknowledged only after they resolve; a throw means redelivery. */
  onResult(handler: InboundHandler): void;
  onEvent(handler: InboundHandler): void;
  onHeartbeat(handler: InboundHandler): void;
  /** Node agents' heartbeats (`node.<name>.heartbeat`); the node's name is the subject's, which its credentials prove. */
  onNodeHeartbeat?(handler: (node: string, payload: unknown) => Promise<void>): void;
  /** The whole set of instances node `node` must run, on the subject only it may read. */
  publishNodeDesired?(node: string, state: unknown): Promise<void>;
  /**
   * Whether everything instances had stored as results and events when this was called has
   * been handled (recorded by the handlers above), waiting up to `timeoutMs` for it. False
   * when it cannot tell (a stream without a leader, the connection down).
   */
  ingestCaughtUp(timeoutMs: number): Promise<boolean>;
  /** Tasks the bus will not redeliver any more; acknowledged once the handler resolves. */
  onDeadLetter(handler: DeadLetterHandler): void;
  /**
   * A pull request on an agent's queue, made for one of its instances: up to `batch` task
   * messages, delivered to `reply` (the instance's `deliveries.<id>.<request>`) while it waits
   * up to `expiresMs` (`tasks.pull`).
   */
  pullFor?(agent: string, pull: { batch: number; expiresMs: number; reply: string }): Promise<void>;
  /** Agents' RPC requests, shared among control-plane replicas (a queue group). */
  onRpc(handler: RpcHandler): void;
  /** Start consuming with the handlers registered so far. */
  start(): Promise<void>;
  ping(): Promise<HealthCheck>;
  /** Since when the control plane's connection has been up; null while it is down. */
  connectedSince(): Date | null;
  close(): Promise<void>;
}
