import type { JsMsg, NatsConnection, Subscription } from 'nats';
import type { AgentEvent, RuntimeEnv } from '@aiflock/protocol';
// Not the package's index: an idle instance must not build every schema of the protocol (task-path.ts).
import { INSTANCE_JS_API_PREFIX, STREAMS, subjects, taskConsumerName, taskPullRequest } from '@aiflock/protocol/subjects';
import { connectWithRetry, describe } from './connect.js';
import { consumeTasks } from './consumer-loop.js';
import { subscribeControl } from './control.js';
import { subscribeBroadcast } from './broadcast.js';
import { EventSink } from './event-sink.js';
import { HeartbeatPublisher } from './heartbeat.js';
import { LivenessFile } from './liveness-file.js';
import { replyMux, type ReplyMux } from './reply-mux.js';
import { Logger } from './logger.js';
import { TaskRegistry } from './registry.js';
import type { AgentDefinition } from './sdk.js';
import type { TaskPath } from './task-path.js';
import { sleep } from './timing.js';
import type { VillageLoop } from './village/loop.js';

export interface RunAgentOptions {
  /** How long stop() lets in-flight tasks finish before aborting them. Default 10 s. */
  stopGraceMs?: number;
  /** How often a running task's message is marked in progress. Keep well under ack_wait. Default 5 s. */
  workingIntervalMs?: number;
  /** How long an aborted handler may take to wind down before its result is reported anyway. Default 5 s. */
  abortGraceMs?: number;
  /** How long one pull request waits for work on the server. Default 10 s. */
  fetchExpiresMs?: number;
  /** Timeout of one attempt to store a result. Default 5 s. */
  publishTimeoutMs?: number;
  /** How long to wait before asking again about a task another live instance holds. Default 2 s. */
  heldRetryMs?: number;
  /** How long a delivery whose start is stored waits for the control plane to learn of it. Default 15 s. */
  startGraceMs?: number;
  /** See TaskRunnerOptions.settleMaxMs (default 2 min). */
  settleMaxMs?: number;
  /** Write log lines to stdout. Default true. */
  logToStdout?: boolean;
}

export interface AgentHandle {
  /** Resolves when the task queue was found and tasks are being pulled. */
  readonly ready: Promise<void>;
  /** Resolves when the runtime has stopped; rejects if the bus connection was closed for good. */
  readonly done: Promise<void>;
  /** Graceful stop; safe to call more than once. */
  stop(): Promise<void>;
}

const DRAIN_TIMEOUT_MS = 5_000;
/** How long a `tasks.pull` waits for the control plane to say it made the request (the request is timed on its own). */
const PULL_CALL_TIMEOUT_MS = 5_000;

export function runAgent(definition: AgentDefinition, env: RuntimeEnv, opts: RunAgentOptions = {}): AgentHandle {
  return new AgentRuntime(definition, env, opts).handle();
}

class AgentRuntime {
  private readonly instanceId: string;
  private readonly log: Logger;
  private readonly events: EventSink;
  private readonly registry = new TaskRegistry();
  private readonly inFlight = new Set<Promise<void>>();
  /** Stops connecting and pulling. */
  private readonly taking = new AbortController();
  /** Stops retrying results of in-flight tasks. */
  private readonly hardStop = new AbortController();
  private nc: NatsConnection | null = null;
  private connected = false;
  private heartbeat: HeartbeatPublisher | null = null;
  /** For the sandbox's health check, written from the start: it says the process lives, the heartbeat says the bus hears it. */
  private liveness: LivenessFile | null = null;
  private control: Subscription | null = null;
  private broadcasts: Subscription | null = null;
  private started: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  /** The village loop, for a villager; stopped with the runtime. */
  private village: Promise<void> | null = null;
  /** The villager's loop, which hears announcements; null outside the village. */
  private villager: VillageLoop | null = null;
  private readonly villageStop = new AbortController();
  private fatal: Error | null = null;
  private readonly readyGate = deferred();
  private readonly doneGate = deferred();

  private readonly stopGraceMs: number;
  private readonly abortGraceMs: number;
  private workingMs = 5_000;

  constructor(
    private readonly definition: AgentDefinition,
    private readonly env: RuntimeEnv,
    private readonly opts: RunAgentOptions,
  ) {
    this.instanceId = env.AIFLOCK_INSTANCE_ID;
    this.stopGraceMs = opts.stopGraceMs ?? 10_000;
    this.abortGraceMs = opts.abortGraceMs ?? 5_000;
    this.log = new Logger({
      instanceId: this.instanceId,
      agent: env.AIFLOCK_AGENT,
      stdout: opts.logToStdout ?? true,
      file: env.AIFLOCK_LOG_FILE,
      fileMaxBytes: env.AIFLOCK_LOG_FILE_MAX_BYTES,
      fileKeep: env.AIFLOCK_LOG_FILE_KEEP,
      ...(env.AIFLOCK_LOG_LEVEL ? { level: env.AIFLOCK_LOG_LEVEL } : {}),
    });
    this.events = new EventSink(subjects.events(this.instanceId));
    // Queued until connected, so "cannot connect yet" lines still reach the control plane.
    this.log.forwardTo((e) => this.events.push(e));
    // Nobody may be listening on these yet; the failures are reported through `done`.
    this.readyGate.promise.catch(() => undefined);
    this.doneGate.promise.catch(() => undefined);
  }

  handle(): AgentHandle {
    this.started = this.start();
    this.started.catch((err: unknown) => this.die(err));
    return { ready: this.readyGate.promise, done: this.doneGate.promise, stop: () => this.stop() };
  }

  private async start(): Promise<void> {
    const env = this.env;
    this.lifecycle('starting');
    if (env.AIFLOCK_LIVENESS_FILE) {
      this.liveness = new LivenessFile(env.AIFLOCK_LIVENESS_FILE, env.AIFLOCK_HEARTBEAT_MS, (m) => this.log.warn(m));
      this.liveness.start();
    }
    const missing = env.AIFLOCK_HANDLERS.filter((t) => !this.definition.handlers[t]);
    if (missing.length > 0) this.log.warn(`AIFLOCK_HANDLERS lists types this agent does not implement: ${missing.join(', ')}`);
    this.log.info(`agent ${env.AIFLOCK_AGENT} instance ${this.instanceId} starting; handlers: ${this.handlerTypes().join(', ') || 'none'}`);

    const nc = await connectWithRetry({
      url: env.AIFLOCK_NATS_URL,
      name: this.instanceId,
      credsFile: env.AIFLOCK_NATS_CREDS,
      inboxPrefix: subjects.inbox(this.instanceId),
      log: this.log,
      signal: this.taking.signal,
    });
    if (!nc) return;
    if (this.taking.signal.aborted) {
      // stop() came while this connection was being made; it will not be drained there.
      await nc.close();
      return;
    }
    this.nc = nc;
    this.connected = true;
    this.events.attach(nc);
    void this.watch(nc);

    // A stop order (a drain) lets running tasks finish for as long as it says, not the default grace.
    this.control = subscribeControl(nc, this.instanceId, this.registry, this.log, (graceMs) => void this.stop(graceMs));
    // Announcements go to the agent's own onBroadcast and, in a villager, to what it hears next turn.
    this.broadcasts = subscribeBroadcast(nc, this.log, async (m) => {
      this.villager?.hear(m);
      await this.definition.onBroadcast?.(m);
    });
    this.heartbeat = new HeartbeatPublisher({
      nc,
      instanceId: this.instanceId,
      agent: env.AIFLOCK_AGENT,
      intervalMs: env.AIFLOCK_HEARTBEAT_MS,
      runningTasks: () => this.registry.ids(),
      connected: () => this.connected,
    });
    this.heartbeat.start();
    this.heartbeat.beat();

    // Per-instance credentials put this instance in the agents account, which reaches the
    // flock's task queue only through the imported API prefix (no stream lives on our side).
    const js = nc.jetstream(env.AIFLOCK_NATS_CREDS ? { apiPrefix: INSTANCE_JS_API_PREFIX } : {});
    // The task runner, the bus clients and the model client are built when the first task
    // arrives, not before: an idle instance holds only its connection, heartbeat and consumer.
    let path: Promise<TaskPath> | null = null;
    const loadTaskPath = (): Promise<TaskPath> =>
      (path ??= import('./task-path.js').then((m) =>
        m.taskPath(nc, this.instanceId, {
          instanceId: this.instanceId,
          agent: env.AIFLOCK_AGENT,
          allowedTypes: env.AIFLOCK_HANDLERS,
          workspace: env.AIFLOCK_WORKSPACE ?? '/tmp',
          definition: this.definition,
          js,
          events: this.events,
          log: this.log,
          registry: this.registry,
          maxPayload: () => nc.info?.max_payload ?? 1024 * 1024,
          hardStop: this.hardStop.signal,
          workingIntervalMs: () => this.opts.workingIntervalMs ?? this.workingMs,
          abortGraceMs: this.abortGraceMs,
          publishTimeoutMs: this.opts.publishTimeoutMs ?? 5_000,
          ...(this.opts.heldRetryMs === undefined ? {} : { heldRetryMs: this.opts.heldRetryMs }),
          ...(this.opts.startGraceMs === undefined ? {} : { startGraceMs: this.opts.startGraceMs }),
          ...(this.opts.settleMaxMs === undefined ? {} : { settleMaxMs: this.opts.settleMaxMs }),
        }),
      ));
    if (env.AIFLOCK_VILLAGE) {
      // A villager's loop calls the bus from its first turn: nothing to save by waiting.
      const [{ llm, clients }, { runVillage }] = await Promise.all([loadTaskPath(), import('./village/start.js')]);
      const deps = { agent: env.AIFLOCK_AGENT, settings: env.AIFLOCK_VILLAGE, clients, llm, log: this.log };
      const village = runVillage(deps, this.villageStop.signal);
      this.villager = village.loop;
      this.village = village.done.catch((err: unknown) => this.log.error(`village loop failed: ${String(err)}`));
    }
    const queue = taskConsumerName(env.AIFLOCK_AGENT);
    const deliveries = subjects.deliveries(this.instanceId);
    const direct = { apiPrefix: env.AIFLOCK_NATS_CREDS ? INSTANCE_JS_API_PREFIX : '$JS.API', agent: env.AIFLOCK_AGENT, deliveries };
    // The answer to `tasks.pull` comes on `replies.<id>.*`, which a revocation does not cut.
    const replies = replyMux(nc, this.instanceId);
    await consumeTasks({
      nc,
      deliveries,
      pull: (input) => pullTasks(nc, replies, this.instanceId, direct, input),
      lookup: () => js.consumers.get(STREAMS.tasks.name, queue),
      stream: STREAMS.tasks.name,
      consumer: queue,
      concurrency: env.AIFLOCK_CONCURRENCY,
      log: this.log,
      signal: this.taking.signal,
      fetchExpiresMs: this.opts.fetchExpiresMs ?? 10_000,
      onMessage: (msg: JsMsg) =>
        loadTaskPath().then(
          (p) => p.runner.handle(msg),
          (err: unknown) => {
            // Only a broken install gets here; the task goes back to the queue for another instance.
            path = null;
            this.log.error(`cannot load the task runner: ${describe(err)}`);
            msg.nak();
          },
        ),
      onReady: () => this.onReady(),
      // In-progress acks well within the queue's ack wait, so a live task is never redelivered.
      onAckWait: (ms) => (this.workingMs = Math.max(100, Math.min(5_000, Math.floor(ms / 3)))),
      inFlight: this.inFlight,
      ...(env.AIFLOCK_ONE_TASK ? { limit: 1 } : {}),
    });
    if (env.AIFLOCK_ONE_TASK && !this.taking.signal.aborted) {
      // lifecycle: job — the one task is taken: once it is reported, this instance is done.
      await Promise.allSettled([...this.inFlight]);
      this.log.info('its one task is done (lifecycle: job): stopping');
      void this.stop();
    }
  }

  private onReady(): void {
    this.lifecycle('ready', this.handlerTypes());
    if (this.heartbeat) {
      this.heartbeat.state = 'ready';
      this.heartbeat.beat();
    }
    this.log.info('ready');
    this.readyGate.resolve();
  }

  /** Follow the connection: pause event publishing while away, and notice a final close. */
  private async watch(nc: NatsConnection): Promise<void> {
    void nc.closed().then((err) => {
      this.connected = false;
      if (this.stopping) return;
      this.die(new Error(`the bus connection was closed${err ? `: ${describe(err)}` : ''}`));
    });
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.events.setConnected(false);
        this.log.warn(`lost the bus connection (${String(s.data)}); reconnecting`);
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.events.setConnected(true);
        this.log.info(`reconnected to the bus (${String(s.data)})`);
      }
    }
  }

  private stop(graceMs = this.stopGraceMs): Promise<void> {
    this.stopping ??= this.shutdown(graceMs).then(
      () => (this.fatal ? this.doneGate.reject(this.fatal) : this.doneGate.resolve()),
      (err: unknown) => {
        this.doneGate.reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.log.info('stopping: no new tasks');
    this.taking.abort();
    this.readyGate.reject(new Error('stopped before it was ready'));
    this.lifecycle('stopping');
    if (this.heartbeat) {
      this.heartbeat.state = 'stopping';
      this.heartbeat.beat();
    }
    // Returns promptly once `taking` is aborted (at most one connect attempt's timeout).
    await this.started.catch(() => undefined);
    this.villageStop.abort();
    await this.village;

    if (this.inFlight.size > 0) {
      this.log.info(`waiting up to ${graceMs} ms for ${this.inFlight.size} task(s) to finish`);
      await Promise.race([Promise.allSettled([...this.inFlight]), sleep(graceMs)]);
    }
    if (this.inFlight.size > 0) {
      const n = this.registry.abortAll('shutdown');
      this.hardStop.abort();
      this.log.warn(`aborted ${n} task(s) still running at shutdown; they go back to the queue`);
      // Handlers get abortGraceMs to wind down; a result publish in flight its own timeout.
      const bound = this.abortGraceMs + (this.opts.publishTimeoutMs ?? 5_000) + 1_000;
      await Promise.race([Promise.allSettled([...this.inFlight]), sleep(bound)]);
    }
    this.hardStop.abort();

    this.heartbeat?.stop();
    this.liveness?.stop();
    this.control?.unsubscribe();
    this.broadcasts?.unsubscribe();
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      await this.events.flush(2_000);
      const drained = nc.drain().then(
        () => true,
        () => false,
      );
      if (!(await Promise.race([drained, sleep(DRAIN_TIMEOUT_MS).then(() => false)]))) await nc.close().catch(() => undefined);
    }
    this.log.forwardTo(null);
    this.log.info('stopped');
    await this.log.close();
  }

  private die(err: unknown): void {
    this.fatal ??= err instanceof Error ? err : new Error(String(err));
    this.log.error(`fatal: ${this.fatal.message}`);
    void this.stop();
  }

  private lifecycle(phase: 'starting' | 'ready' | 'stopping', handlers?: string[]): void {
    const event: AgentEvent = { type: 'lifecycle', ts: new Date().toISOString(), phase };
    if (handlers) event.handlers = handlers;
    this.events.push(event);
  }

  /** Types both allowed by the control plane and implemented here. */
  private handlerTypes(): string[] {
    return this.env.AIFLOCK_HANDLERS.filter((t) => this.definition.handlers[t]);
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * `tasks.pull`, on the idle path: a plain request and a look at the reply, without the op
 * catalogue's schemas (an idle instance does not load them; the control plane checks the input).
 * While the control plane does not answer (restarting, or gone for a while), the instance
 * makes the pull request itself, with the same reply subject: tasks keep running without it.
 * Such a request is broken by an update of the agents account, but only the control plane
 * makes those (revocations), so none comes while it is away.
 */
async function pullTasks(nc: NatsConnection, replies: ReplyMux, instanceId: string, queue: { apiPrefix: string; agent: string; deliveries: string }, input: { batch: number; expiresMs: number; request: string }): Promise<void> {
  let reply: { ok?: boolean; error?: { code?: string; message?: string } };
  try {
    const msg = await replies.request(subjects.rpc(instanceId, 'tasks', 'pull'), new TextEncoder().encode(JSON.stringify(input)), { timeout: PULL_CALL_TIMEOUT_MS });
    reply = JSON.parse(new TextDecoder().decode(msg.data)) as typeof reply;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code !== '503' && code !== 'TIMEOUT') throw err;
    const { subject, body } = taskPullRequest(queue.agent, input, queue.apiPrefix);
    nc.publish(subject, body, { reply: `${queue.deliveries}.${input.request}` });
    return;
  }
  if (reply.ok !== true) throw new Error(`tasks.pull refused: ${reply.error?.message ?? 'no reason given'} (${reply.error?.code ?? 'unknown'})`);
}
