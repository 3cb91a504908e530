import type { JetStreamClient, JsMsg } from 'nats';
// Not the package's index: that would build the whole op catalogue (op-catalogue.ts) with the runner.
import type { AgentEvent, TaskClaim, TaskClaimRpc, TerminalStatus } from '@aiflock/protocol';
import { subjects } from '@aiflock/protocol/subjects';
import { Task, TaskResult } from '@aiflock/protocol/task';
import { TRACE_HEADERS } from '@aiflock/protocol/trace';
import { describe } from './connect.js';
import type { EventSink } from './event-sink.js';
import type { BusClients } from './bus-clients.js';
import type { LlmClient } from './llm-client.js';
import type { Logger } from './logger.js';
import type { TaskRegistry, RunningTask } from './registry.js';
import { encodeResult } from './result-size.js';
import { ResultBatcher } from './result-batcher.js';
import { inTaskSpan, resultTraceHeaders, taskSpan, type TaskSpan } from './trace-context.js';
import { abortReason, HandlerError, type AgentDefinition, type HandlerOutput } from './sdk.js';
import { backoff, sleep } from './timing.js';
import { DeadlineTimer } from './deadline-timer.js';
import { delegator } from './delegate.js';

export interface TaskRunnerOptions {
  instanceId: string;
  agent: string;
  /** AIFLOCK_HANDLERS: the task types the control plane allows this deployment to run. */
  allowedTypes: readonly string[];
  workspace: string;
  definition: AgentDefinition;
  llm: LlmClient;
  clients: BusClients;
  js: JetStreamClient;
  events: EventSink;
  log: Logger;
  registry: TaskRegistry;
  /** Max bytes of one bus message (the server's max_payload). */
  maxPayload: () => number;
  /** Aborts once the runtime gives up on in-flight work: result retries stop, tasks are nak'ed. */
  hardStop: AbortSignal;
  /** How often a running task tells the bus it is still alive; read per task (it follows the queue's ack wait). */
  workingIntervalMs: () => number;
  abortGraceMs: number;
  publishTimeoutMs: number;
  /** Asks the control plane whether a task delivered again may run here (`tasks.claim`). */
  claim: (input: TaskClaimRpc) => Promise<TaskClaim>;
  /** How long to wait before asking again about a task another live instance holds. */
  heldRetryMs?: number;
  /**
   * How long a delivery whose start is already stored waits for that start to reach the
   * control plane (the task still shows queued there) before running anyway. Default 15 s.
   */
  startGraceMs?: number;
  /**
   * How long a delivery waits on a control plane that has not caught up with what instances
   * stored ("wait") before it takes the task as the control plane sees it. Default 2 min.
   */
  settleMaxMs?: number;
}

type Outcome = Omit<TaskResult, 'agentId' | 'taskId' | 'timestamp' | 'attempt'>;

const decoder = new TextDecoder();
/** How many tasks an instance remembers having finished (see `TaskRunner.finished`). */
const REMEMBERED_FINISHED = 1_000;

/** Runs one delivered task message from validation to acknowledgement. Never throws. */
export class TaskRunner {
  /**
   * Tasks this instance ran to a stored result, newest last. A redelivery of one (its
   * acknowledgement lost with a NATS server) is acknowledged without asking the control plane,
   * which may not have read that result yet and would still see the task running here.
   */
  private readonly finished = new Set<string>();
  /** Tasks whose result is being stored, until it is (a redelivery meanwhile waits for the outcome). */
  private readonly storing = new Map<string, Promise<boolean>>();
  /** Results finished together are stored together (one message per batch). */
  private readonly results: ResultBatcher;

  constructor(private readonly o: TaskRunnerOptions) {
    this.results = new ResultBatcher({ js: o.js, instanceId: o.instanceId, log: o.log, maxPayload: o.maxPayload, publishTimeoutMs: o.publishTimeoutMs, hardStop: o.hardStop });
  }

  async handle(msg: JsMsg): Promise<void> {
    try {
      const task = this.parse(msg);
      if (!task) return;
      if (this.o.registry.has(task.id)) {
        // A redelivery of what we are still running (e.g. after a partition): the
        // first delivery acknowledges it; running it twice would apply it twice.
        this.o.log.warn(`task ${task.id} was delivered again while still running here; ignoring the duplicate`, { seq: msg.seq });
        return;
      }
      // Its result is being stored (it finished a moment ago): its outcome says whether this is a rerun.
      if (!this.finished.has(task.id)) await this.storing.get(task.id);
      if (this.finished.has(task.id)) {
        await this.ack(msg, task.id);
        this.o.log.forTask(task.id).info(`task delivered again (delivery ${msg.info.deliveryCount}) after it ended here; acknowledged, not run again`);
        return;
      }
      await this.run(msg, task);
    } catch (err) {
      // Only a bug gets here; the message is redelivered after ack_wait.
      this.o.log.error(`internal error while handling message ${msg.seq}: ${describe(err)}`);
    }
  }

  private parse(msg: JsMsg): Task | null {
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(msg.data));
    } catch (err) {
      this.reject(msg, `it is not JSON (${describe(err)})`);
      return null;
    }
    const parsed = Task.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      this.reject(msg, issues);
      return null;
    }
    // The payload carries the attempt it was published with; a redelivery by JetStream
    // (the previous holder died or gave it back) is a further attempt.
    return { ...parsed.data, attempt: Math.max(parsed.data.attempt, msg.info.deliveryCount) };
  }

  private remember(taskId: string): void {
    this.finished.add(taskId);
    if (this.finished.size > REMEMBERED_FINISHED) this.finished.delete(this.finished.values().next().value!);
  }

  /** Redelivering a message that can never be valid would only loop; terminate it. */
  private reject(msg: JsMsg, why: string): void {
    this.o.log.error(`invalid task message (stream sequence ${msg.seq}) terminated: ${why}`, { subject: msg.subject });
    msg.term();
  }

  private async run(msg: JsMsg, task: Task): Promise<void> {
    // From here on the message must not be redelivered while we work or retry the result.
    const keepAlive = setInterval(() => msg.working(), this.o.workingIntervalMs());
    const span = taskSpan(msg.headers?.get(TRACE_HEADERS.traceparent));
    try {
      const admitted = await this.admit(msg, task);
      if (admitted === 'finished') {
        await this.ack(msg, task.id);
        this.o.log.forTask(task.id).info(`task delivered again (delivery ${msg.info.deliveryCount}) after it ended; acknowledged, not run again`);
        return;
      }
      const outcome = admitted === 'shutdown' ? 'shutdown' : await inTaskSpan(span, () => this.execute(task));
      if (outcome === 'shutdown') {
        msg.nak();
        this.o.log.forTask(task.id).info('task interrupted by shutdown; returned to the queue');
        return;
      }
      const result: TaskResult = {
        agentId: this.o.instanceId,
        taskId: task.id,
        timestamp: new Date().toISOString(),
        attempt: task.attempt,
        ...outcome,
      };
      if (await this.publish(result, span)) {
        // The result is stored: acknowledge without asking the server to confirm. The results
        // stored by one message are acknowledged in the same turn, so their acks leave in one
        // socket write; a lost one only means a redelivery, which `finished`, the start fence
        // and `tasks.claim` answer without a rerun.
        msg.ack();
        this.o.log.forTask(task.id).info(`task ${result.status} in ${result.durationMs} ms`, {
          status: result.status,
          ...(result.error ? { error: result.error } : {}),
        });
      } else {
        msg.nak();
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * Whether this delivery may run. JetStream delivers at least once, and with a NATS server
   * lost it may hand out a task that ran, or still runs elsewhere: an acknowledgement, or a
   * consumer's record of a delivery, can go with the server. Three fences keep such a task
   * from running twice:
   * - a task's first start is stored in JetStream under a message id naming its stream
   *   message (`start:<task>:<seq>`), whichever delivery stores it: of two instances handed
   *   the same message, only the one that stores it first runs on it; the other's is refused
   *   as a duplicate by the stream's duplicate window;
   * - a later delivery, or the loser of that race, runs only once the control plane says the
   *   task has neither ended nor is held by a live instance (`tasks.claim`); while one holds
   *   it, or the control plane has not read all that was stored ("wait"), the delivery is
   *   kept (not acknowledged: should that holder die, the task is not lost) and the
   *   question asked again;
   * - a duplicate start is our own when the control plane names us as the holder (a publish
   *   whose confirmation was lost, then retried); one it does not know yet is waited for a
   *   while rather than raced.
   */
  private async admit(msg: JsMsg, task: Task): Promise<'run' | 'finished' | 'shutdown'> {
    const delivery = msg.info.deliveryCount;
    const firstStart = `start:${task.id}:${msg.seq}`;
    // Whether the task's first start is already in the stream: another delivery's, or our own
    // whose confirmation was lost with a server (the retry is then refused as its duplicate).
    let startStored = false;
    if (delivery === 1) {
      const first = await this.publishStart(task, firstStart);
      if (first !== 'duplicate') return first === 'stored' ? 'run' : 'shutdown';
      startStored = true;
    }
    const log = this.o.log.forTask(task.id);
    let since = Date.now();
    let waitedSince: number | null = null;
    for (let asked = 0; !this.o.hardStop.aborted; asked++) {
      let claim: TaskClaim | null = null;
      try {
        claim = await this.o.claim({ taskId: task.id, delivery });
      } catch (err) {
        log.warn(`cannot ask the control plane whether task ${task.id} may run again (${describe(err)}); asking again`);
      }
      if (claim?.verdict === 'finished') return 'finished';
      if (claim?.verdict === 'wait') {
        // Not for ever: a control plane that cannot catch up is a fault of its own, and the
        // task must not wait on it without end.
        waitedSince ??= Date.now();
        if (Date.now() - waitedSince >= (this.o.settleMaxMs ?? 120_000)) {
          log.warn('the control plane has not caught up with what instances stored; taking the task as it stands');
          claim = { ...claim, verdict: 'run' };
        } else {
          if (asked === 0) log.info('task delivered again; waiting for the control plane to read what instances stored');
          if (!(await sleep(this.o.heldRetryMs ?? 2_000, this.o.hardStop))) break;
          continue;
        }
      }
      if (claim?.verdict === 'run' && startStored) {
        // The stored start is ours and the control plane has it: run on it, under the same attempt.
        if (claim.holder === this.o.instanceId && claim.status !== 'queued') return 'run';
        // The stored start has not reached the control plane yet: it will say who holds the
        // task once it has. Running now could run a copy beside its holder.
        if (claim.status === 'queued' && Date.now() - since < (this.o.startGraceMs ?? 15_000)) {
          if (asked === 0) log.info('task delivered again; its start is stored but not yet known to the control plane, waiting for it');
          if (!(await sleep(this.o.heldRetryMs ?? 2_000, this.o.hardStop))) break;
          continue;
        }
      }
      if (claim?.verdict === 'run' && claim.status === 'queued' && !startStored) {
        // Nobody's start is known: take the task's first start, as a first delivery would. An
        // instance still storing its own (held up by the lost server) then finds ours and asks.
        const first = await this.publishStart(task, firstStart);
        if (first === 'stored') return 'run';
        if (first === 'shutdown') return 'shutdown';
        startStored = true;
        since = Date.now();
        continue;
      }
      if (claim?.verdict === 'run') {
        // A unique id: this start must be stored whatever came before it.
        const started = await this.publishStart(task, `start:${task.id}:${msg.seq}:${delivery}:${this.o.instanceId}:${Date.now()}`);
        return started === 'shutdown' ? 'shutdown' : 'run';
      }
      if (claim?.verdict === 'held' && asked === 0) log.info(`task delivered again while ${claim.holder ?? 'another instance'} runs it; waiting for it to end`);
      if (!(await sleep(claim ? (this.o.heldRetryMs ?? 2_000) : backoff(asked, 500, 10_000), this.o.hardStop))) break;
    }
    return 'shutdown';
  }

  /** Store the task's start event in JetStream under `msgID`; retried until stored or the runtime gives up. */
  private async publishStart(task: Task, msgID: string): Promise<'stored' | 'duplicate' | 'shutdown'> {
    const event: AgentEvent = { type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: task.attempt };
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.o.js.publish(subjects.events(this.o.instanceId), JSON.stringify(event), { msgID, timeout: this.o.publishTimeoutMs });
        return ack.duplicate ? 'duplicate' : 'stored';
      } catch (err) {
        if (this.o.hardStop.aborted) return 'shutdown';
        const delay = backoff(attempt, 250, 5_000);
        this.o.log.warn(`cannot record the start of task ${task.id} yet (${describe(err)}); retrying in ${delay} ms`);
        if (!(await sleep(delay, this.o.hardStop))) return 'shutdown';
      }
    }
  }

  /**
   * Acknowledge and wait for the server to confirm, so "acked" in our logs means acked. If
   * the ack is lost the task is redelivered, and its result deduplicated by msgID.
   */
  private async ack(msg: JsMsg, taskId: string): Promise<void> {
    const confirmed = await msg.ackAck().catch(() => false);
    if (!confirmed) this.o.log.forTask(taskId).warn('the task acknowledgement was not confirmed; it may be delivered again');
  }

  private async execute(task: Task): Promise<Outcome | 'shutdown'> {
    const { agent, allowedTypes, definition, registry } = this.o;
    if (task.agent !== agent) {
      return failed(`task is for agent "${task.agent}" but was delivered to agent "${agent}"`);
    }
    const handler = definition.handlers[task.type];
    if (!allowedTypes.includes(task.type) || !handler) {
      const offered = allowedTypes.filter((t) => definition.handlers[t]);
      return failed(`task type "${task.type}" is not supported by agent "${agent}" (supported: ${offered.join(', ') || 'none'})`);
    }
    const deadline = Date.parse(task.deadline);
    if (deadline <= Date.now()) {
      return { status: 'timed_out', result: '', error: `deadline ${task.deadline} passed before the task started`, durationMs: 0 };
    }
    const early = registry.takeEarlyCancel(task.id);
    if (early !== undefined) return { status: 'cancelled', result: '', error: cancelText(early), durationMs: 0 };

    const entry = registry.add(task.id);
    const signal = entry.controller.signal;
    const timer = new DeadlineTimer(deadline, () => entry.controller.abort('timed_out'));
    const started = performance.now();
    const log = this.o.log.forTask(task.id);
    try {
      log.info(`task started: ${task.type} (attempt ${task.attempt}/${task.maxAttempts})`);
      const settled = await settle(
        Promise.resolve().then(() =>
          handler({
            task,
            input: task.data,
            signal,
            log,
            workspace: this.o.workspace,
            instanceId: this.o.instanceId,
            agent,
            llm: this.o.llm.forTask(task.id),
            ...this.o.clients,
            delegate: delegator(this.o.clients.tasks, task.id, signal, log),
            publish: (e) => this.o.events.push(e),
            pauseDeadline: () => timer.pause(),
          }),
        ),
        signal,
        this.o.abortGraceMs,
      );
      const durationMs = Math.max(0, Math.round(performance.now() - started));
      return this.outcome(settled, entry, durationMs);
    } finally {
      timer.stop();
      registry.remove(task.id);
    }
  }

  private outcome(settled: Settled, entry: RunningTask, durationMs: number): Outcome | 'shutdown' {
    // A handler that finished is believed, even if an abort arrived as it returned.
    if (settled.kind === 'returned') {
      const out = normalise(settled.value);
      if (typeof out === 'string') return { ...failed(out), durationMs };
      return { status: 'completed', result: out.result, ...(out.output === undefined ? {} : { output: out.output }), durationMs };
    }
    const partial = settled.kind === 'threw' ? partialOf(settled.error) : {};
    const reason = abortReason(entry.controller.signal);
    if (reason === 'shutdown') return 'shutdown';
    if (reason === 'cancelled') return { status: 'cancelled', result: '', ...partial, error: cancelText(entry.cancelReason), durationMs };
    if (reason === 'timed_out') return { status: 'timed_out', result: '', ...partial, error: 'deadline reached while running', durationMs };
    const error = settled.kind === 'threw' ? describe(settled.error) : 'handler did not finish';
    return { status: 'failed', result: '', ...partial, error: error || 'handler failed', durationMs };
  }

  /** Until JetStream has stored the result (alone or in a batch); false if the runtime gave up first. */
  private async publish(result: TaskResult, span: TaskSpan | null): Promise<boolean> {
    const checked = TaskResult.safeParse(result);
    if (!checked.success) {
      // A runtime bug; report it as a failure rather than losing the task.
      result = { ...result, status: 'failed', output: undefined, error: `runtime produced an invalid result: ${checked.error.message}` };
    }
    const stored = this.results.store(result.taskId, result.attempt, encodeResult(result, this.o.maxPayload()), span ? resultTraceHeaders(span) : undefined);
    this.storing.set(result.taskId, stored);
    try {
      const ok = await stored;
      if (ok) this.remember(result.taskId);
      return ok;
    } finally {
      this.storing.delete(result.taskId);
    }
  }
}

type Settled = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'abandoned' };

/**
 * Wait for the handler; once it is aborted give it `graceMs` to wind down (a killed
 * process group needs a moment) and then stop waiting, so a handler that ignores its
 * signal cannot hold a cancelled or timed-out task open forever.
 */
async function settle(work: Promise<unknown>, signal: AbortSignal, graceMs: number): Promise<Settled> {
  const settled = work.then(
    (value): Settled => ({ kind: 'returned', value }),
    (error: unknown): Settled => ({ kind: 'threw', error }),
  );
  let timer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<Settled>((resolve) => {
    const onAbort = (): void => void (timer = setTimeout(() => resolve({ kind: 'abandoned' }), graceMs));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([settled, abandoned]);
  } finally {
    clearTimeout(timer);
  }
}

function normalise(value: unknown): HandlerOutput | string {
  if (typeof value === 'string') return { result: value };
  if (value && typeof value === 'object' && typeof (value as { result?: unknown }).result === 'string') {
    const out = value as HandlerOutput;
    if (out.output !== undefined) {
      try {
        JSON.stringify(out.output);
      } catch (err) {
        return `handler output is not JSON-serialisable: ${describe(err)}`;
      }
    }
    return out;
  }
  return 'handler returned neither a string nor { result: string }';
}

function partialOf(error: unknown): Partial<Pick<TaskResult, 'result' | 'output'>> {
  if (!(error instanceof HandlerError)) return {};
  return { ...(error.result === undefined ? {} : { result: error.result }), ...(error.output === undefined ? {} : { output: error.output }) };
}

function failed(error: string): Outcome & { status: TerminalStatus } {
  return { status: 'failed', result: '', error, durationMs: 0 };
}

function cancelText(reason: string | undefined): string {
  return reason ? `cancelled: ${reason}` : 'cancelled';
}
