import { createHash } from 'node:crypto';
import type { CreateTaskRequest, Task, TaskStatus, TaskView } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { assertMayRunTasks } from '../auth/task-access.js';
import type { Actor } from './auth.js';
import { newTaskId } from '../ids.js';
import { canonicalJson } from '../manifest/digest.js';
import { isTerminal, statusesBefore } from '../task/lifecycle.js';
import type { Bus, DeadLetter } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { DeploymentRecord, InstanceRecord, Store, TaskRecord } from '../ports/store.js';

/** How `create` reads the deployment a task is for. */
export type DeploymentReader = (name: string) => Promise<DeploymentRecord | undefined>;

export interface TaskServiceDeps {
  store: Store;
  bus: Bus;
  clock: Clock;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

export interface TaskQuery {
  agent?: string;
  status?: TaskStatus[];
  before?: string;
  /** Only the tasks delegated from this task. */
  parentId?: string;
  limit?: number;
}

/** Create, read and cancel tasks. Results and events from instances arrive via TaskIngest. */
export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /**
   * `by`: who asks (an API caller), checked against who may run tasks on the agent; omitted
   * for the flock itself. `delegatedFrom`: the task this one is delegated from (checked by
   * the caller), whose deadline the new task's may not pass.
   */
  async create(
    req: CreateTaskRequest,
    idempotencyKey?: string,
    by?: Actor,
    delegatedFrom?: { parentId: string; deadline: string },
    readDeployment: DeploymentReader = (name) => this.deps.store.deployments.get(name),
  ): Promise<{ task: TaskView; created: boolean }> {
    const { store, clock } = this.deps;
    const deployment = await readDeployment(req.agent);
    if (!deployment) throw new FlockError('agent_not_found', `no agent named "${req.agent}" is deployed`, { agent: req.agent });
    if (by) assertMayRunTasks(by, req.agent, deployment);
    if (deployment.state === 'stopped') {
      throw new FlockError('agent_stopped', `agent "${req.agent}" is stopped; deploy or scale it to run tasks`, { agent: req.agent });
    }
    const handlers = deployment.manifest.handlers;
    const type = req.type ?? handlers[0]!;
    if (!handlers.includes(type)) {
      throw new FlockError('unsupported_task_type', `agent "${req.agent}" handles ${handlers.map((h) => `"${h}"`).join(', ')}, not "${type}"`, {
        type,
        handlers,
      });
    }
    const requestHash = createHash('sha256')
      .update(canonicalJson({ agent: req.agent, type, input: req.input ?? null, timeoutMs: req.timeoutMs, maxAttempts: req.maxAttempts }))
      .digest('hex');
    const now = clock.now();
    const deadline = new Date(now.getTime() + (req.timeoutMs ?? deployment.manifest.resources.taskTimeout)).toISOString();
    const record: TaskRecord = {
      id: newTaskId(now),
      agent: req.agent,
      type,
      status: 'queued',
      input: req.input ?? null,
      result: null,
      output: null,
      error: null,
      attempt: 1,
      maxAttempts: req.maxAttempts ?? deployment.manifest.maxAttempts,
      instanceId: null,
      idempotencyKey: idempotencyKey ?? null,
      requestHash,
      createdAt: now.toISOString(),
      startedAt: null,
      finishedAt: null,
      // ISO times of one format compare as strings.
      deadline: delegatedFrom && delegatedFrom.deadline < deadline ? delegatedFrom.deadline : deadline,
      queueSeq: null,
      ...(delegatedFrom ? { parentId: delegatedFrom.parentId } : {}),
    };
    const { inserted, task } = await store.tasks.insert(record);
    if (!inserted) {
      if (task.requestHash !== requestHash) {
        throw new FlockError('idempotency_conflict', `Idempotency-Key "${idempotencyKey}" was already used for a different task`, {
          taskId: task.id,
        });
      }
      return { task: taskView(task), created: false };
    }
    return { task: taskView(await this.enqueue(task)), created: true };
  }

  /**
   * A deployment reader for the items of one batch create: each agent's deployment is read
   * (and its manifest decoded) once for the whole batch instead of once per item.
   */
  batchReader(): DeploymentReader {
    const read = new Map<string, Promise<DeploymentRecord | undefined>>();
    return (name) => {
      let got = read.get(name);
      if (!got) read.set(name, (got = this.deps.store.deployments.get(name)));
      return got;
    };
  }

  /**
   * Publish a recorded task to its queue. A failure leaves it queued without a sequence and
   * the outbox sweep publishes it later: a task accepted by the API is never lost.
   */
  async enqueue(task: TaskRecord): Promise<TaskRecord> {
    try {
      const seq = await this.deps.bus.enqueue(toBusTask(task));
      return (await this.deps.store.tasks.transition(task.id, ['queued'], { queueSeq: seq })) ?? task;
    } catch (err) {
      this.deps.log('warn', 'task not yet published; the outbox will retry', { taskId: task.id, error: String(err) });
      return task;
    }
  }

  async get(id: string): Promise<TaskView> {
    return taskView(await this.require(id));
  }

  async list(q: TaskQuery): Promise<{ tasks: TaskView[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    const rows = await this.deps.store.tasks.list({ agent: q.agent, status: q.status, before: q.before, parentId: q.parentId, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { tasks: page.map(taskView), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  async cancel(id: string, reason = 'cancelled by request', by?: Actor): Promise<TaskView> {
    const { store, bus, clock } = this.deps;
    const task = await this.require(id);
    if (by) assertMayRunTasks(by, task.agent, await store.deployments.get(task.agent));
    if (isTerminal(task.status)) {
      throw new FlockError('task_not_cancellable', `task ${id} is already ${task.status}`, { status: task.status });
    }
    if (task.status === 'queued' && task.queueSeq !== null) await bus.withdraw(task.queueSeq).catch(() => false);
    const done = await store.tasks.transition(id, statusesBefore('cancelled'), {
      status: 'cancelled',
      error: reason,
      finishedAt: clock.now().toISOString(),
    });
    // The handler may be running (or about to start): tell its instance to stop it.
    const instanceId = done?.instanceId ?? task.instanceId;
    if (instanceId) await bus.control(instanceId, { type: 'cancel', taskId: id, reason }).catch(() => undefined);
    return taskView(done ?? (await this.require(id)));
  }

  /**
   * Cancel every task of `agent` that has not ended (queued, running, waiting for a person):
   * when an agent is removed nothing will ever run them, so they end now, saying why,
   * rather than sitting until their deadlines. Returns how many were cancelled.
   */
  async cancelAllOf(agent: string, reason: string): Promise<number> {
    const open = statusesBefore('cancelled');
    let cancelled = 0;
    for (;;) {
      const batch = await this.deps.store.tasks.list({ agent, status: open, limit: 200 });
      let progressed = false;
      for (const t of batch) {
        // A task that ended meanwhile (its result came in) is left as it ended.
        const done = await this.cancel(t.id, reason).catch((err: unknown) => {
          if (err instanceof FlockError && err.code === 'task_not_cancellable') return null;
          throw err;
        });
        if (done?.status === 'cancelled') cancelled++;
        progressed = true;
      }
      if (!progressed || batch.length < 200) return cancelled;
    }
  }

  /**
   * The bus gave up on a task (delivered maxAttempts times, never acknowledged): it ends
   * `dead_lettered`, with the reason said as precisely as the records allow.
   */
  readonly deadLetter = async ({ taskId, deliveries }: DeadLetter): Promise<void> => {
    const { store, clock } = this.deps;
    const task = await store.tasks.get(taskId);
    if (!task || isTerminal(task.status)) return;
    const last = task.instanceId ? await store.instances.get(task.instanceId) : undefined;
    const times = deliveries ?? task.maxAttempts;
    const reason =
      `dead-lettered: delivered ${times} time${times === 1 ? '' : 's'} (maxAttempts ${task.maxAttempts}) and never finished; ` + lastAttempt(task.instanceId, last);
    const done = await store.tasks.transition(taskId, statusesBefore('dead_lettered'), {
      status: 'dead_lettered',
      error: reason,
      attempt: Math.max(task.attempt, times),
      finishedAt: clock.now().toISOString(),
    });
    if (!done) return;
    this.deps.log('warn', reason, { taskId, agent: task.agent });
    await store.logs.append([{ ts: clock.now().toISOString(), level: 'error', msg: reason, agent: task.agent, instanceId: task.instanceId ?? '-', taskId }]);
  };

  async require(id: string): Promise<TaskRecord> {
    const task = await this.deps.store.tasks.get(id);
    if (!task) throw new FlockError('task_not_found', `no task with id "${id}"`, { taskId: id });
    return task;
  }
}

function lastAttempt(instanceId: string | null, last: InstanceRecord | undefined): string {
  if (!instanceId) return 'no instance ever reported starting it';
  if (!last) return `the last attempt was on ${instanceId}, which no longer exists`;
  if (last.oomKilled) return `the last attempt was on ${instanceId}, killed for exceeding its memory limit (oom_killed)`;
  if (last.status === 'exited') return `the last attempt was on ${instanceId}, which exited with code ${last.exitCode ?? '?'}`;
  if (last.status === 'unhealthy') return `the last attempt was on ${instanceId}, which stopped sending heartbeats`;
  return `the last attempt was on ${instanceId} (${last.status}), which did not acknowledge it in time`;
}

export function toBusTask(t: TaskRecord): Task {
  return {
    id: t.id,
    type: t.type,
    data: t.input,
    timestamp: t.createdAt,
    agent: t.agent,
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    deadline: t.deadline,
    ...(t.idempotencyKey ? { idempotencyKey: t.idempotencyKey } : {}),
  };
}

export function taskView(t: TaskRecord): TaskView {
  return {
    id: t.id,
    agent: t.agent,
    type: t.type,
    status: t.status,
    input: t.input,
    result: t.result,
    ...(t.output !== null && t.output !== undefined ? { output: t.output } : {}),
    error: t.error,
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    instanceId: t.instanceId,
    idempotencyKey: t.idempotencyKey,
    createdAt: t.createdAt,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    deadline: t.deadline,
    ...(t.parentId ? { parentId: t.parentId } : {}),
  };
}
