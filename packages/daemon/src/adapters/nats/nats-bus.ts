import {
  AckPolicy,
  connect,
  DeliverPolicy,
  headers as natsHeaders,
  JSONCodec,
  RetentionPolicy,
  StorageType,
  nanos,
  type Authenticator,
  type ConsumerConfig,
  type JetStreamClient,
  type JsMsg,
  type JetStreamManager,
  type MsgHdrs,
  type NatsConnection,
  type StreamConfig,
} from 'nats';
import { natsNodeWire, type NodeWire } from '../../nodes/node-wire.js';
import type { Bus, ManifestArtefacts, DeadLetterHandler, HealthCheck, InboundHandler, QueueOptions, QueueStats, RpcHandler } from '@aiflock/core';
import { NODE_NAME_PATTERN, RPC_REPLY_HEADER, RPC_STREAM_HEADER, STREAMS, isReplySubjectOf, nodeSubjects, TRACE_HEADERS, parseAgentSubject, parseRpcSubject, parseTraceparent, subjects, taskConsumerName, taskPullRequest, type BroadcastMessage, type ControlMessage, type Task, type TaskResult } from '@aiflock/protocol';
import { context } from '@opentelemetry/api';
import { natsManifestArtefacts } from './manifest-artefacts.js';
import { KeyedLanes } from './keyed-lanes.js';
import { coalesceFlushes } from './coalesced-flush.js';
import { natsServers } from './server-list.js';
import { SpanKind, TaskTraces, extractTraceContext, injectTraceContext, recordRemoteSpan, withSpan } from '../../telemetry/tracing.js';

const codec = JSONCodec();

/**
 * Messages of the results and events streams the daemon stores at once (see `pump`). Each
 * waits for the group commit its write joins, so this bounds how large those groups grow:
 * at 64 a batch run left hundreds of results delivered but waiting for a lane while groups
 * held ~110 writes (bench/README.md, "Task path: where the batch path waited").
 */
const INGEST_CONCURRENCY = 256;

/**
 * A result's lane: its task (the message id is `<task>:<attempt>`), so one task's results stay
 * in order. A batch of results (`batch:<instance>:<life>:<n>`) has a lane of its own, so an
 * instance's batches are stored side by side (their writes share group commits) rather than
 * one commit after another; a task's two results in two batches (a redelivery's) are then
 * applied in parallel, where the final transition's compare-and-set lets only one finish it.
 */
const resultKey = (m: JsMsg): string => {
  const id = m.headers?.get('Nats-Msg-Id') ?? '';
  return (id.startsWith('batch:') ? id : id.split(':')[0]) || m.subject;
};

/**
 * An event's lanes: the task it names (a task's start, log lines and steps stay in order),
 * else its instance (lifecycle and logs outside tasks). A batch of events takes the lanes of
 * every event in it, so a step sent alone and the next ones sent together in a batch are still
 * stored in the order the instance sent them. The lane only orders work; the handler still
 * checks that each task is the publishing agent's.
 */
const eventKeys = (m: JsMsg): string[] => {
  const payload = payloadOf(m) as { type?: unknown; events?: unknown } | undefined;
  const laneOf = (e: unknown): string => {
    const taskId = (e as { taskId?: unknown } | null | undefined)?.taskId;
    return typeof taskId === 'string' ? `${m.subject}:${taskId}` : m.subject;
  };
  return payload?.type === 'batch' && Array.isArray(payload.events) && payload.events.length > 0 ? payload.events.map(laneOf) : [laneOf(payload)];
};

export interface NatsBusOptions {
  url: string;
  name?: string;
  /** How the control plane authenticates (its own credentials, never an instance's). */
  authenticator?: Authenticator;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
  /** What each task was published under, to check what instances report about their spans. */
  traces?: TaskTraces;
  /** Replicas of the flock's streams and stores; unset: see `streamReplicas`. */
  replicas?: number;
}

/**
 * How many copies of each stream and store: what the operator set, else 3 on a cluster whose
 * servers NATS_URL lists (three or more: a majority survives the loss of one), else 1.
 */
export function streamReplicas(configured: number | undefined, servers: string[], clusterName: string | undefined): number {
  if (configured !== undefined) return configured;
  return clusterName && servers.length >= 3 ? 3 : 1;
}

const STREAM_CONFIG: Record<keyof typeof STREAMS, Partial<StreamConfig>> = {
  // Work queue: a message is removed once acknowledged, i.e. once its result is recorded.
  tasks: { retention: RetentionPolicy.Workqueue, duplicate_window: nanos(10 * 60_000) },
  // Results and events wait in the stream until the control plane has stored them.
  results: { retention: RetentionPolicy.Workqueue, duplicate_window: nanos(10 * 60_000) },
  events: { retention: RetentionPolicy.Workqueue, max_age: nanos(24 * 3_600_000), max_bytes: 1024 ** 3 },
};

/**
 * JetStream announces a task message it will no longer redeliver (max_deliver reached) with
 * an advisory; capturing those in a stream means none is missed while the daemon is down.
 */
const DEAD_LETTERS = {
  name: 'FLOCK_DEAD_LETTERS',
  subjects: [`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${STREAMS.tasks.name}.>`],
  durable: 'daemon-dead-letters',
};

/** The Bus port over NATS + JetStream (nats.js, the official client). */
export class NatsBus implements Bus {
  readonly kind = 'nats';
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private nodeBeat: ((node: string, payload: unknown) => Promise<void>) | null = null;
  private readonly handlers: {
    results?: InboundHandler;
    events?: InboundHandler;
    heartbeat?: InboundHandler;
    rpc?: RpcHandler;
    deadLetter?: DeadLetterHandler;
  } = {};
  private closing = false;
  private upSince: Date | null = new Date();
  private readonly traces: TaskTraces;
  /** Copies of each stream (and the manifest store) across the cluster's servers. */
  replicas = 1;
  artefacts!: ManifestArtefacts;

  private constructor(private readonly opts: NatsBusOptions) {
    this.traces = opts.traces ?? new TaskTraces();
  }

  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(opts);
    const servers = natsServers(opts.url);
    bus.nc = await connect({
      // Every server of a cluster: when the one in use dies, the client moves to another.
      servers,
      name: opts.name ?? 'aiflock-daemon',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(opts.authenticator ? { authenticator: opts.authenticator } : {}),
    });
    // Acks, results and task publishes of a group commit leave in one socket write (see coalesced-flush.ts).
    if (!coalesceFlushes(bus.nc)) opts.log('warn', 'this nats.js version does not expose its protocol handler as expected; publishes are written one flush each');
    void bus.watchStatus();
    bus.js = bus.nc.jetstream();
    bus.jsm = await bus.nc.jetstreamManager();
    bus.replicas = streamReplicas(opts.replicas, servers, bus.nc.info?.cluster);
    bus.artefacts = natsManifestArtefacts(bus.js, bus.jsm, bus.replicas);
    return bus;
  }

  /**
   * The flock's streams and the daemon's consumers, made or brought up to date. A cluster that
   * has only just formed answers 503, or fails to place a replicated stream ("error creating
   * store", "insufficient resources"), until its servers are current: a daemon started with it
   * waits for that (up to a minute) instead of exiting.
   */
  async init(): Promise<void> {
    await whileJetStreamRecovers(() => this.ensureStreams(), { ms: 60_000, settling: true, log: this.opts.log });
    await this.ensureConsumer(DEAD_LETTERS.name, DEAD_LETTERS.durable, { ack_wait: nanos(30_000) });
    await this.ensureConsumer(STREAMS.results.name, 'daemon-results', { ack_wait: nanos(30_000) });
    await this.ensureConsumer(STREAMS.events.name, 'daemon-events', { ack_wait: nanos(30_000) });
  }

  private async ensureStreams(): Promise<void> {
    const dl = {
      ...{ name: DEAD_LETTERS.name, subjects: DEAD_LETTERS.subjects, storage: StorageType.File, num_replicas: this.replicas },
      ...{ retention: RetentionPolicy.Workqueue, max_age: nanos(7 * 24 * 3_600_000) },
    };
    const configs = [
      ...(Object.keys(STREAMS) as (keyof typeof STREAMS)[]).map((key) => {
        const { name, subjects: subs } = STREAMS[key];
        return { name, subjects: [...subs], storage: StorageType.File, num_replicas: this.replicas, ...STREAM_CONFIG[key] };
      }),
      dl,
    ];
    for (const config of configs) {
      try {
        await this.jsm.streams.info(config.name);
        await this.jsm.streams.update(config.name, config);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.jsm.streams.add(config);
      }
    }
  }

  async ensureQueue(agent: string, opts: QueueOptions): Promise<void> {
    await this.ensureConsumer(
      STREAMS.tasks.name,
      taskConsumerName(agent),
      { filter_subject: subjects.tasks(agent), ack_wait: nanos(opts.ackWaitMs), max_deliver: opts.maxDeliver },
      // A redeploy keeps the in-flight limit the economy set (limitQueue); a new queue starts open.
      { max_ack_pending: 1_000 },
    );
  }

  /**
   * At most `maxInFlight` of the agent's tasks delivered and unacknowledged at once, across
   * all its instances: the server holds the rest back, so no instance can take more.
   */
  async limitQueue(agent: string, maxInFlight: number): Promise<void> {
    await this.jsm.consumers.update(STREAMS.tasks.name, taskConsumerName(agent), { max_ack_pending: Math.max(1, maxInFlight) });
  }

  async removeQueue(agent: string): Promise<void> {
    // On a cluster, a server lost a moment ago leaves JetStream's API without a leader for a
    // few seconds (timeouts, "no responders"): `agent remove` waits that out instead of
    // failing half way, its deployment already gone.
    await whileJetStreamRecovers(() =>
      this.jsm.consumers.delete(STREAMS.tasks.name, taskConsumerName(agent)).catch((err) => {
        if (!isNotFound(err)) throw err;
        return true;
      }),
    );
    await whileJetStreamRecovers(() => this.jsm.streams.purge(STREAMS.tasks.name, { filter: subjects.tasks(agent) }));
  }

  async enqueue(task: Task): Promise<number> {
    const subject = subjects.tasks(task.agent);
    const attributes = { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'aiflock.task.id': task.id, 'aiflock.agent': task.agent };
    return withSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER, attributes }, async (span) => {
      // W3C trace context in the message headers, so the instance's span becomes a child of
      // this one; no headers at all when tracing is off (the no-op propagator sets nothing).
      const h = natsHeaders();
      let traced = false;
      injectTraceContext((k, v) => {
        h.set(k, v);
        traced = true;
      });
      const ack = await this.js.publish(subject, codec.encode(task), { msgID: task.id, ...(traced ? { headers: h } : {}) });
      span.setAttribute('messaging.nats.stream.sequence', ack.seq);
      this.traces.published(task.id, span.spanContext());
      return ack.seq;
    });
  }

  async withdraw(seq: number): Promise<boolean> {
    try {
      return await this.jsm.streams.deleteMessage(STREAMS.tasks.name, seq, false);
    } catch {
      return false;
    }
  }

  async queueStats(agent: string): Promise<QueueStats | undefined> {
    try {
      const info = await this.jsm.consumers.info(STREAMS.tasks.name, taskConsumerName(agent));
      return { pending: info.num_pending, inFlight: info.num_ack_pending, redelivered: info.num_redelivered };
    } catch {
      return undefined;
    }
  }

  async queueDepth(agent: string): Promise<number> {
    try {
      const info = await this.jsm.consumers.info(STREAMS.tasks.name, taskConsumerName(agent));
      return info.num_pending + info.num_ack_pending;
    } catch {
      return 0;
    }
  }

  async control(instanceId: string, msg: ControlMessage): Promise<void> {
    this.nc.publish(subjects.control(instanceId), codec.encode(msg));
    await this.nc.flush();
  }

  async pullFor(agent: string, pull: { batch: number; expiresMs: number; reply: string }): Promise<void> {
    // Published as is, without waiting: its answers go to the instance, not to us.
    const { subject, body } = taskPullRequest(agent, pull);
    this.nc.publish(subject, body, { reply: pull.reply });
  }

  async publishVerifiedResult(result: TaskResult): Promise<void> {
    this.nc.publish(subjects.taskResult, codec.encode(result));
  }

  async broadcast(message: BroadcastMessage): Promise<void> {
    this.nc.publish(subjects.broadcast, codec.encode(message));
    await this.nc.flush();
  }

  onResult(handler: InboundHandler): void {
    this.handlers.results = handler;
  }
  onEvent(handler: InboundHandler): void {
    this.handlers.events = handler;
  }
  onDeadLetter(handler: DeadLetterHandler): void {
    this.handlers.deadLetter = handler;
  }
  onHeartbeat(handler: InboundHandler): void {
    this.handlers.heartbeat = handler;
  }
  onRpc(handler: RpcHandler): void {
    this.handlers.rpc = handler;
  }
  /** Core NATS, not a stream: a node that missed one gets the next (every pass, every heartbeat). */
  async publishNodeDesired(node: string, state: unknown): Promise<void> {
    this.nc.publish(nodeSubjects.desired(node), codec.encode(state));
    await this.nc.flush();
  }

  /** Exec sessions and stats of joined nodes, on this connection (it reconnects, and so do they). */
  nodeWire(): NodeWire {
    return natsNodeWire(this.nc);
  }

  onNodeHeartbeat(handler: (node: string, payload: unknown) => Promise<void>): void {
    this.nodeBeat = handler;
  }

  async start(): Promise<void> {
    // Results of different tasks, and events of different instances, are stored concurrently
    // (so their writes share transactions); one task's results, one instance's events, in order.
    if (this.handlers.results) void this.pump(STREAMS.results.name, 'daemon-results', this.fromInstance(this.handlers.results, (who, payload, m) => this.recordAgentSpan(who, payload, m.headers)), resultKey, INGEST_CONCURRENCY);
    if (this.handlers.events) void this.pump(STREAMS.events.name, 'daemon-events', this.fromInstance(this.handlers.events), eventKeys, INGEST_CONCURRENCY);
    if (this.handlers.deadLetter) void this.pump(DEAD_LETTERS.name, DEAD_LETTERS.durable, this.deadLettered(this.handlers.deadLetter), () => 'all', 1);
    if (this.handlers.rpc) this.serveRpc(this.handlers.rpc);
    const nodeBeat = this.nodeBeat;
    if (nodeBeat) {
      const sub = this.nc.subscribe(nodeSubjects.allHeartbeats);
      void (async () => {
        for await (const m of sub) {
          const node = m.subject.split('.')[1] ?? '';
          if (!NODE_NAME_PATTERN.test(node)) continue;
          await nodeBeat(node, decode(m.data)).catch((err: unknown) => this.opts.log('warn', `node heartbeat from ${node} not recorded: ${String(err)}`));
        }
      })();
    }
    const beat = this.handlers.heartbeat;
    if (beat) {
      const sub = this.nc.subscribe(subjects.allHeartbeats);
      void (async () => {
        for await (const m of sub) {
          const who = parseAgentSubject(m.subject);
          if (!who) continue;
          await beat({ instanceId: who.instanceId, payload: decode(m.data) }).catch(() => undefined);
        }
      })();
    }
  }

  /**
   * Agents' requests: a queue group, so each request is served by one control-plane replica.
   * Requests are handled concurrently (a model call may take seconds). A request with neither
   * a reply subject nor a reply header is a notification (e.g. `stream.cancel`); its answer
   * goes nowhere. Where answers go: `rpcAnswerSubject`.
   */
  private serveRpc(handler: RpcHandler): void {
    const sub = this.nc.subscribe(subjects.allRpc, { queue: 'aiflock-rpc' });
    void (async () => {
      for await (const m of sub) {
        const where = parseRpcSubject(m.subject);
        if (!where) {
          this.opts.log('warn', `dropped an RPC request on ${m.subject}: not agent.<id>.rpc.<service>.<op>`);
          continue;
        }
        const target = rpcAnswerSubject(where.instanceId, m.reply ?? '', m.headers?.get(RPC_REPLY_HEADER) ?? '');
        if (target.refused) this.opts.log('warn', `${where.instanceId} named ${JSON.stringify(target.refused.slice(0, 100))} for the answer to ${where.service}.${where.op}, not a reply subject of its own; answering on the reply route`);
        // The name the caller gave its stream (for `stream.cancel`) travels in a header.
        const reply = target.subject ? (m.headers?.get(RPC_STREAM_HEADER) || target.subject).slice(0, 200) : '';
        const respond = (data: unknown) => {
          if (target.subject && !this.nc.isClosed()) this.nc.publish(target.subject, codec.encode(data));
        };
        // The task's trace context, if the request names a trace this daemon gave the instance.
        const traceparent = parseTraceparent(m.headers?.get(TRACE_HEADERS.traceparent));
        const ctx = traceparent && this.traces.knows(traceparent.traceId) ? extractTraceContext((k) => m.headers?.get(k) || undefined) : context.active();
        const attributes = { 'rpc.system': 'nats', 'rpc.service': where.service, 'rpc.method': where.op, 'aiflock.instance.id': where.instanceId };
        void context
          .with(ctx, () => withSpan(`rpc ${where.service}.${where.op}`, { kind: SpanKind.SERVER, attributes }, () => handler({ ...where, payload: decode(m.data), reply, respond })))
          .catch((err: unknown) => this.opts.log('error', `RPC handler failed on ${m.subject}`, { error: String(err) }));
      }
    })();
  }

  /** A message published by an instance: its identity is the subject's, never the payload's. */
  private fromInstance(handler: InboundHandler, after?: (who: { instanceId: string }, payload: unknown, m: JsMsg) => void): (m: JsMsg) => Promise<boolean> {
    return async (m) => {
      const who = parseAgentSubject(m.subject);
      const payload = payloadOf(m);
      if (!who || payload === undefined) return false;
      await handler({ instanceId: who.instanceId, payload });
      after?.(who, payload, m);
      return true;
    };
  }

  /**
   * The instance's span for a task it finished, recorded here because sandboxes cannot reach a
   * collector. Only its span id and start time are taken from the message, and only for a
   * task this daemon published with a trace context (TaskTraces checks both).
   */
  private recordAgentSpan(who: { instanceId: string }, payload: unknown, h: MsgHdrs | undefined): void {
    const r = payload as Partial<TaskResult>;
    if (typeof r.taskId !== 'string') return;
    const now = Date.now();
    const reported = Date.parse(String(r.timestamp));
    const span = this.traces.finished(r.taskId, { traceparent: h?.get(TRACE_HEADERS.traceparent), startMs: h?.get(TRACE_HEADERS.spanStart) }, Number.isFinite(reported) ? Math.min(reported, now) : now);
    if (!span) return;
    recordRemoteSpan({
      ...span,
      name: 'agent task',
      attributes: {
        'aiflock.task.id': r.taskId,
        'aiflock.instance.id': who.instanceId,
        ...(typeof r.status === 'string' ? { 'aiflock.task.status': r.status } : {}),
        ...(typeof r.attempt === 'number' ? { 'aiflock.task.attempt': r.attempt } : {}),
      },
      ...(r.status && r.status !== 'completed' ? { error: typeof r.error === 'string' ? r.error.slice(0, 200) : r.status } : {}),
    });
  }

  /** A max-deliveries advisory: look up the task it names, hand it over, then drop the message. */
  private deadLettered(handler: DeadLetterHandler): (m: JsMsg) => Promise<boolean> {
    return async (m) => {
      const advisory = decode(m.data) as { stream_seq?: unknown; deliveries?: unknown } | undefined;
      const seq = advisory?.stream_seq;
      if (typeof seq !== 'number') return false;
      let task: unknown;
      try {
        task = decode((await this.jsm.streams.getMessage(STREAMS.tasks.name, { seq })).data);
      } catch (err) {
        // Acknowledged (or withdrawn) since: nothing is left to give up on.
        if (isNotFound(err)) return true;
        throw err;
      }
      const taskId = (task as { id?: unknown } | undefined)?.id;
      if (typeof taskId !== 'string') return false;
      await handler({ taskId, deliveries: typeof advisory?.deliveries === 'number' ? advisory.deliveries : null });
      await this.jsm.streams.deleteMessage(STREAMS.tasks.name, seq, false).catch(() => false);
      return true;
    };
  }

  async ingestCaughtUp(timeoutMs: number): Promise<boolean> {
    const read: [stream: string, durable: string][] = [
      [STREAMS.results.name, 'daemon-results'],
      [STREAMS.events.name, 'daemon-events'],
    ];
    const until = Date.now() + timeoutMs;
    try {
      // What was stored by now: each stream's last sequence. Read once, so a steady flow of new
      // messages cannot keep moving the mark.
      const marks = await Promise.all(read.map(async ([stream]) => (await this.jsm.streams.info(stream)).state.last_seq));
      for (;;) {
        const consumers = await Promise.all(read.map(([stream, durable]) => this.jsm.consumers.info(stream, durable)));
        // Handled up to the mark: the consumer's ack floor passed it, or nothing is left at all.
        if (consumers.every((c, i) => c.ack_floor.stream_seq >= marks[i]! || (c.num_pending === 0 && c.num_ack_pending === 0))) return true;
        if (Date.now() >= until) return false;
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch {
      return false;
    }
  }

  /**
   * Deliver a stream's messages, in order per `keyOf`, up to `concurrency` at once; acknowledge
   * each only once `handle` stored it. A message it cannot read (false) is terminated rather
   * than redelivered forever.
   */
  private async pump(stream: string, durable: string, handle: (m: JsMsg) => Promise<boolean>, keyOf: (m: JsMsg) => string | string[], concurrency: number): Promise<void> {
    const lanes = new KeyedLanes(concurrency);
    const settle = async (m: JsMsg): Promise<void> => {
      try {
        if (!(await handle(m))) {
          this.opts.log('warn', `dropped an unreadable message on ${m.subject}`);
          m.term();
          return;
        }
        m.ack();
      } catch (err) {
        this.opts.log('error', `could not record message from ${m.subject}; it will be redelivered`, { error: String(err) });
        m.nak(1_000);
      }
    };
    while (!this.closing) {
      try {
        const consumer = await this.js.consumers.get(stream, durable);
        // Twice the lanes buffered, so a lane that frees finds its next message already here.
        const messages = await consumer.consume({ max_messages: Math.max(64, concurrency * 2) });
        for await (const m of messages) await lanes.run(keyOf(m), () => settle(m));
      } catch (err) {
        if (this.closing) return;
        this.opts.log('warn', `consumer ${durable} interrupted; resuming`, { error: String(err) });
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  async ping(): Promise<HealthCheck> {
    if (this.nc.isClosed()) return { ok: false, detail: 'connection closed' };
    try {
      const rtt = await Promise.race([this.nc.rtt(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer in 2 s')), 2_000))]);
      return { ok: true, detail: `${this.nc.getServer()} rtt ${rtt} ms` };
    } catch (err) {
      return { ok: false, detail: String(err) };
    }
  }

  connectedSince(): Date | null {
    return this.upSince;
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.upSince = null;
      else if (s.type === 'reconnect') this.upSince = new Date();
    }
  }

  /** The raw connection, for components that need plain NATS (benchmarks, tests). */
  connection(): NatsConnection {
    return this.nc;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }

  private async ensureConsumer(stream: string, durable: string, extra: Partial<ConsumerConfig>, onCreate: Partial<ConsumerConfig> = {}): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...extra,
    };
    try {
      await this.jsm.consumers.info(stream, durable);
      await this.jsm.consumers.update(stream, durable, config);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.consumers.add(stream, { ...config, ...onCreate });
    }
  }
}

/**
 * Where the answer to an RPC request of `instanceId` goes. The reply header, when it names
 * exactly `replies.<instanceId>.<token>` (the caller's own, `isReplySubjectOf`): published in
 * the flock account, that subject reaches the instance as a stream, which survives the
 * updates of the agents account that drop the server's reply routes (accounts.ts). Otherwise
 * the route (`route`, the request's reply subject): with per-instance credentials the server
 * made it into the agents account, where no stream listens, whatever reply subject the
 * instance named. A header naming anything else (another instance's replies, a wildcard, a
 * subject a stream captures) is never published on; it is returned as `refused`.
 */
export function rpcAnswerSubject(instanceId: string, route: string, header: string): { subject: string; refused?: string } {
  if (header && isReplySubjectOf(instanceId, header)) return { subject: header };
  return header ? { subject: route, refused: header } : { subject: route };
}

/** A stream message's payload, decoded once however often it is read (its lane key, then its handler). */
const decoded = new WeakMap<JsMsg, unknown>();
function payloadOf(m: JsMsg): unknown {
  if (!decoded.has(m)) decoded.set(m, decode(m.data));
  return decoded.get(m);
}

function decode(data: Uint8Array): unknown {
  try {
    return codec.decode(data);
  } catch {
    return undefined;
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

/**
 * Retries a JetStream API call while it fails for want of a leader or an answer (for up to
 * 20 s), or, with `settling`, also while a new cluster cannot yet place a replicated stream.
 */
async function whileJetStreamRecovers<T>(call: () => Promise<T>, o: { ms?: number; settling?: boolean; log?: NatsBusOptions['log'] } = {}): Promise<T> {
  const until = Date.now() + (o.ms ?? 20_000);
  let said = false;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const transient = isTransientJetStreamError(err) || (o.settling === true && isClusterSettling(err));
      if (Date.now() >= until || !transient) throw err;
      if (!said && o.log) o.log('warn', `JetStream is not ready yet (${(err as Error).message}); waiting for it`);
      said = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** What a cluster whose servers are not all current answers when a replicated stream is made. */
function isClusterSettling(err: unknown): boolean {
  return /error creating store|insufficient resources|no suitable peers/i.test(String((err as { message?: unknown }).message ?? ''));
}

function isTransientJetStreamError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === '503' || e.code === 'TIMEOUT' || /timeout|no responders|not available|leader/i.test(String(e.message ?? ''));
}
