import { AgentEvent, AgentEventBatch, Heartbeat, TaskResult, TaskResultBatch, instanceAgent, type SandboxHealth } from '@aiflock/protocol';
import { ACTIVE_STATUSES, decideResult } from '../task/lifecycle.js';
import type { Bus, InboundMessage } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { LogRecord, Store, TaskRecord } from '../ports/store.js';
import type { InstanceRateLimit } from './instance-rate-limit.js';
import type { Scrubber } from './secret-scrub.js';
import type { TaskServiceDeps } from './tasks.js';

export interface IngestOptions {
  /**
   * The scrubber of the secrets an agent holds (file and header secrets its manifest names),
   * run over everything its instances send before it is stored or re-published.
   */
  scrubberOf?: (agent: string) => Promise<Scrubber>;
  /** Per-instance limit on events (logs, steps): the excess is dropped. */
  eventLimit?: InstanceRateLimit;
  /** Called for every event dropped by the limit (a metric). */
  onEventDropped?: (instanceId: string) => void;
  /** Log lines longer than this (UTF-16 units) are cut, with a note of how much was cut. */
  maxLogChars?: number;
}

/**
 * What we last heard of each instance's liveness, kept in memory: its last heartbeat (the
 * reconciler persists what it needs and replaces instances on it) and its sandbox's own
 * health check (shown per instance, not acted on: a custom image without `sh` would fail
 * that check forever, and a frozen runtime misses its heartbeats anyway).
 */
export class Presence {
  private readonly seen = new Map<string, { at: Date; beat: Heartbeat }>();
  private readonly thawed = new Map<string, Date>();
  private readonly checks = new Map<string, SandboxHealth | null>();
  record(beat: Heartbeat, at: Date): void {
    this.seen.set(beat.instanceId, { at, beat });
  }
  last(instanceId: string): Date | null {
    return this.seen.get(instanceId)?.at ?? null;
  }
  /** The state its last heartbeat gave (`stopping` once it winds down), or null if none was heard. */
  lastState(instanceId: string): Heartbeat['state'] | null {
    return this.seen.get(instanceId)?.beat.state ?? null;
  }
  /**
   * A quarantined instance was released at `at`. It was paused and cut off the bus, so its
   * silence until then proves nothing: it is judged as a new instance from that moment
   * (it must reconnect and beat again), not replaced for the heartbeats it could not send.
   */
  resumed(instanceId: string, at: Date): void {
    this.thawed.set(instanceId, at);
  }
  resumedAt(instanceId: string): Date | null {
    return this.thawed.get(instanceId) ?? null;
  }
  checked(instanceId: string, health: SandboxHealth | null): void {
    this.checks.set(instanceId, health);
  }
  health(instanceId: string): SandboxHealth | null {
    return this.checks.get(instanceId) ?? null;
  }
  forget(instanceId: string): void {
    this.seen.delete(instanceId);
    this.thawed.delete(instanceId);
    this.checks.delete(instanceId);
  }
}

/**
 * Applies what instances publish: results finish tasks, events record progress and logs,
 * heartbeats mark liveness. The publisher's identity is the instance id taken from the
 * subject; a payload claiming another identity is refused. Invalid payloads are logged and
 * dropped (acknowledged), so bad input changes nothing and is not redelivered forever.
 */
export class TaskIngest {
  constructor(private readonly deps: TaskServiceDeps & IngestOptions & { presence: Presence; bus: Bus; store: Store; clock: Clock }) {}

  /**
   * A result, or a `batch` of them (protocol `TaskResultBatch`). A batch's results are taken
   * each as if it came alone, side by side, so their writes share one group commit; one that
   * is refused (malformed, another's, already finished) leaves its neighbours as they are. A
   * write that fails fails the message, which is redelivered whole: the results it already
   * applied are then found finished and are not applied again.
   */
  readonly onResult = async ({ instanceId, payload }: InboundMessage): Promise<void> => {
    const scrub = this.scrubberOnce(instanceAgent(instanceId));
    if ((payload as { type?: unknown } | null)?.type !== 'batch') return this.result(instanceId, payload, scrub);
    const parsed = TaskResultBatch.safeParse(payload);
    if (!parsed.success) return this.reject(instanceId, 'result batch', parsed.error.message);
    const settled = await Promise.allSettled(parsed.data.results.map((one) => this.result(instanceId, one, scrub)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  };

  private async result(instanceId: string, payload: unknown, scrub: () => Promise<Scrubber | undefined>): Promise<void> {
    const parsed = TaskResult.safeParse(payload);
    if (!parsed.success) return this.reject(instanceId, 'result', parsed.error.message);
    // What people read (result, output, error) is scrubbed; the ids the checks below use are not.
    const { result: value, output, error } = await this.scrub(scrub, { result: parsed.data.result, output: parsed.data.output, error: parsed.data.error });
    const result: TaskResult = { ...parsed.data, result: value, ...(output === undefined ? {} : { output }), ...(error === undefined ? {} : { error }) };
    if (result.agentId !== instanceId) return this.reject(instanceId, 'result', `agentId "${result.agentId}" is not the publisher`);
    const { store, bus } = this.deps;
    const task = await store.tasks.get(result.taskId);
    if (!task) return this.reject(instanceId, 'result', `unknown task ${result.taskId}`);
    const decision = decideResult(task, result, instanceAgent(instanceId));
    if (!decision.apply) {
      if (decision.reason === 'wrong_instance') return this.reject(instanceId, 'result', `task ${task.id} belongs to agent ${task.agent}`);
      // The same result again, for a task it finished: a daemon killed after the final
      // transition never acknowledged the result, so it came back. The transition and its
      // log line are one write now; a row without the line comes from a daemon from before
      // that, killed between the two: finish what it could not, once (the line and the
      // verified result). A kill after the joint commit leaves only `task.result` unsent:
      // observers miss that one message, while the task record and long polls have it.
      // Only for what the instance alone decides (completed, failed): a cancel or a deadline
      // is the control plane's, and the instance's report of it is a confirmation, noted below.
      const line = `task ${task.status}${result.error ? `: ${result.error}` : ''}`;
      const instanceDecided = result.status === 'completed' || result.status === 'failed';
      if (instanceDecided && task.instanceId === instanceId && task.status === result.status && !(await this.logged(task.id, line))) {
        await this.taskLog(task.agent, instanceId, task.id, task.status === 'completed' ? 'info' : 'warn', line);
        await bus.publishVerifiedResult(result);
        return;
      }
      await this.taskLog(task.agent, instanceId, task.id, 'info', `instance reported ${result.status} after the task was ${task.status}`);
      return;
    }
    // The final transition and its log line are one write (one commit): a kill can no longer
    // fall between them. A result may arrive before its start event (separate streams), so also from queued.
    const done = await store.together(task.id, async (w) => {
      const moved = await w.tasks.transition(task.id, ['queued', ...ACTIVE_STATUSES], {
        status: decision.status,
        result: result.result,
        output: result.output ?? null,
        error: result.error ?? null,
        instanceId,
        // The result says which delivery produced it; its start event may be recorded later
        // (events and results are separate streams, drained in parallel after a daemon restart).
        attempt: Math.max(task.attempt, result.attempt),
        startedAt: task.startedAt ?? result.timestamp,
        finishedAt: this.deps.clock.now().toISOString(),
      });
      if (moved) await w.logs.append([this.logLine(task.agent, instanceId, task.id, decision.status === 'completed' ? 'info' : 'warn', `task ${decision.status}${result.error ? `: ${result.error}` : ''}`)]);
      return moved;
    });
    if (done) await bus.publishVerifiedResult(result);
  }

  /** Whether the task's log has this line among its newest (the final line comes last but for late notes). */
  private async logged(taskId: string, msg: string): Promise<boolean> {
    return (await this.deps.store.logs.list({ taskId, limit: 200, tail: true })).some((l) => l.msg === msg);
  }

  /**
   * Every event kind goes the same way: rate limited per instance (starts excepted), validated, refused if it
   * names a task that is not its agent's (whatever the kind: a log line must not land in
   * another agent's task any more than a start may), and scrubbed of the agent's secrets
   * before anything is stored. A `batch` message is several events, each taken as if it came
   * alone; the log lines of a message are stored in one write.
   */
  readonly onEvent = async ({ instanceId, payload }: InboundMessage): Promise<void> => {
    const lines: Omit<LogRecord, 'seq'>[] = [];
    const scrub = this.scrubberOnce(instanceAgent(instanceId));
    if ((payload as { type?: unknown } | null)?.type === 'batch') {
      const parsed = AgentEventBatch.safeParse(payload);
      if (!parsed.success) return this.reject(instanceId, 'event batch', parsed.error.message);
      // The tasks a batch names, read once for all its events (mostly log lines of a few tasks).
      const tasks = new Map<string, TaskRecord | null>();
      for (const one of parsed.data.events) {
        if ((one as { type?: unknown } | null)?.type === 'batch') this.reject(instanceId, 'event', 'a batch inside a batch');
        else await this.apply(instanceId, one, lines, tasks, scrub);
      }
    } else await this.apply(instanceId, payload, lines, new Map(), scrub);
    // Its log lines (and their job events): one write.
    if (lines.length > 0) await this.deps.store.logs.append(lines);
  };

  /**
   * One event. Log lines are gathered in `lines` (stored together by the caller); the rest is
   * stored here. `tasks`: the tasks already read for this message.
   */
  private async apply(instanceId: string, payload: unknown, lines: Omit<LogRecord, 'seq'>[], tasks: Map<string, TaskRecord | null>, scrub: () => Promise<Scrubber | undefined>): Promise<void> {
    // A start is one per delivery the control plane made (it is bounded by the work given, and
    // dropping one would lose a cancel); everything else an instance says freely is limited.
    const kind = (payload as { type?: unknown } | null)?.type;
    if (kind !== 'task.started' && !this.admit(instanceId)) return;
    const parsed = AgentEvent.safeParse(payload);
    if (!parsed.success) return this.reject(instanceId, 'event', parsed.error.message);
    const agent = instanceAgent(instanceId);
    const named = 'taskId' in parsed.data ? parsed.data.taskId : undefined;
    let task: TaskRecord | null = null;
    if (named !== undefined) {
      // A start changes its task: read it fresh. Other events only need whose it is.
      task = kind !== 'task.started' && tasks.has(named) ? tasks.get(named)! : await this.ownTask(agent, named);
      tasks.set(named, task);
    }
    if (named !== undefined && !task) return this.reject(instanceId, 'event', `${parsed.data.type}: task ${named} is not for agent ${agent}`);
    // A start holds no free text (its type, time and task id are kept as they are, its attempt is
    // a number): nothing of it could be scrubbed, so it costs no scrubber lookup.
    const ev = parsed.data.type === 'task.started' ? parsed.data : await this.scrub(scrub, parsed.data, ['type', 'ts', 'taskId']);
    switch (ev.type) {
      case 'log':
        lines.push({ ts: ev.ts, level: ev.level, msg: this.cut(ev.msg), agent, instanceId, taskId: ev.taskId ?? null });
        return;
      case 'lifecycle':
        lines.push({ ts: ev.ts, level: 'info', msg: `instance ${ev.phase}`, agent, instanceId, taskId: null });
        return;
      case 'task.started':
        return this.started(task!, instanceId, ev.attempt, ev.ts);
      case 'task.step':
        // Ownership was checked above for every kind that names a task.
        await this.deps.store.taskSteps.append({ agent, instanceId, step: ev });
        return;
    }
  }

  readonly onHeartbeat = async ({ instanceId, payload }: InboundMessage): Promise<void> => {
    const parsed = Heartbeat.safeParse(payload);
    if (!parsed.success || parsed.data.instanceId !== instanceId) return;
    this.deps.presence.record(parsed.data, this.deps.clock.now());
  };

  private async started(task: TaskRecord, instanceId: string, attempt: number, ts: string): Promise<void> {
    const { store, bus } = this.deps;
    const { id: taskId, agent } = task;
    if (task.status === 'cancelled') {
      // Cancelled while in flight to this instance: stop it there.
      await bus.control(instanceId, { type: 'cancel', taskId, reason: task.error ?? 'cancelled' });
      return;
    }
    // The control plane counts attempts: another start while the task is running means the
    // bus redelivered it (its holder died or gave it back), also to the same instance when
    // its container was restarted. The same event seen twice (redelivered to us after a
    // daemon crash) carries the same timestamp and counts once.
    const redelivered = task.status !== 'queued' && ts !== task.startedAt;
    // This very event again (the daemon's acknowledgement of it lost): already applied.
    if (task.status === 'running' && task.instanceId === instanceId && ts === task.startedAt) return;
    // The start and its log line: one write, one commit.
    await store.together(taskId, async (w) => {
      const moved = await w.tasks.transition(taskId, ['queued', ...ACTIVE_STATUSES], {
        status: 'running',
        instanceId,
        attempt: Math.max(attempt, redelivered ? task.attempt + 1 : task.attempt),
        startedAt: ts,
      });
      if (moved) await w.logs.append([this.logLine(agent, instanceId, taskId, 'info', `task started on ${instanceId} (attempt ${moved.attempt})`)]);
    });
  }

  /** The task, if it is `agent`'s; null if it does not exist or is another agent's. */
  private async ownTask(agent: string, taskId: string): Promise<TaskRecord | null> {
    const task = await this.deps.store.tasks.get(taskId);
    return task && task.agent === agent ? task : null;
  }

  private admit(instanceId: string): boolean {
    const decision = this.deps.eventLimit?.take(instanceId) ?? 'pass';
    if (decision === 'pass') return true;
    this.deps.onEventDropped?.(instanceId);
    if (decision === 'drop_first') this.deps.log('warn', `dropping events from ${instanceId}: it sends more than its rate limit (instances.eventsPerSecond); drops are counted in aiflock_instance_events_dropped_total and reported at most once a minute`, { instanceId });
    return false;
  }

  /**
   * The agent's scrubber, looked up at most once for one message: a batch's items share it
   * (one deployment read per message, not per event or result).
   */
  private scrubberOnce(agent: string): () => Promise<Scrubber | undefined> {
    let found: Promise<Scrubber | undefined> | undefined;
    return () => (found ??= this.deps.scrubberOf?.(agent) ?? Promise.resolve(undefined));
  }

  private async scrub<T>(scrubber: () => Promise<Scrubber | undefined>, value: T, keep: readonly string[] = []): Promise<T> {
    const scrub = await scrubber();
    return scrub ? scrub(value, keep) : value;
  }

  private cut(msg: string): string {
    const max = this.deps.maxLogChars;
    if (max === undefined || msg.length <= max) return msg;
    return `${msg.slice(0, max)}… [${msg.length - max} more characters cut]`;
  }

  private async taskLog(agent: string, instanceId: string, taskId: string, level: 'info' | 'warn', msg: string): Promise<void> {
    await this.deps.store.logs.append([this.logLine(agent, instanceId, taskId, level, msg)]);
  }

  private logLine(agent: string, instanceId: string, taskId: string, level: 'info' | 'warn', msg: string): Omit<LogRecord, 'seq'> {
    return { ts: this.deps.clock.now().toISOString(), level, msg, agent, instanceId, taskId };
  }

  private reject(instanceId: string, what: string, why: string): void {
    this.deps.log('warn', `refused ${what} from ${instanceId}: ${why}`, { instanceId });
  }
}
