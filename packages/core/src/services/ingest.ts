import { AgentEvent, Heartbeat, TaskResult, instanceAgent } from '@aiflock/protocol';
import { ACTIVE_STATUSES, decideResult } from '../task/lifecycle.js';
import type { Bus, InboundMessage } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import type { TaskServiceDeps } from './tasks.js';

/** Last heartbeat per instance, kept in memory; the reconciler persists what it needs. */
export class Presence {
  private readonly seen = new Map<string, { at: Date; beat: Heartbeat }>();
  record(beat: Heartbeat, at: Date): void {
    this.seen.set(beat.instanceId, { at, beat });
  }
  last(instanceId: string): Date | null {
    return this.seen.get(instanceId)?.at ?? null;
  }
  forget(instanceId: string): void {
    this.seen.delete(instanceId);
  }
}

/**
 * Applies what instances publish: results finish tasks, events record progress and logs,
 * heartbeats mark liveness. The publisher's identity is the instance id taken from the
 * subject; a payload claiming another identity is refused. Invalid payloads are logged and
 * dropped (acknowledged), so bad input changes nothing and is not redelivered forever.
 */
export class TaskIngest {
  constructor(private readonly deps: TaskServiceDeps & { presence: Presence; bus: Bus; store: Store; clock: Clock }) {}

  readonly onResult = async ({ instanceId, payload }: InboundMessage): Promise<void> => {
    const parsed = TaskResult.safeParse(payload);
    if (!parsed.success) return this.reject(instanceId, 'result', parsed.error.message);
    const result = parsed.data;
    if (result.agentId !== instanceId) return this.reject(instanceId, 'result', `agentId "${result.agentId}" is not the publisher`);
    const { store, bus } = this.deps;
    const task = await store.tasks.get(result.taskId);
    if (!task) return this.reject(instanceId, 'result', `unknown task ${result.taskId}`);
    const decision = decideResult(task, result, instanceAgent(instanceId));
    if (!decision.apply) {
      if (decision.reason === 'wrong_instance') return this.reject(instanceId, 'result', `task ${task.id} belongs to agent ${task.agent}`);
      await this.taskLog(task.agent, instanceId, task.id, 'info', `instance reported ${result.status} after the task was ${task.status}`);
      return;
    }
    // A result may arrive before its start event (separate streams), so also from queued.
    const done = await store.tasks.transition(task.id, ['queued', ...ACTIVE_STATUSES], {
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
    if (done) {
      await this.taskLog(task.agent, instanceId, task.id, decision.status === 'completed' ? 'info' : 'warn', `task ${decision.status}${result.error ? `: ${result.error}` : ''}`);
      await bus.publishVerifiedResult(result);
    }
  };

  readonly onEvent = async ({ instanceId, payload }: InboundMessage): Promise<void> => {
    const parsed = AgentEvent.safeParse(payload);
    if (!parsed.success) return this.reject(instanceId, 'event', parsed.error.message);
    const ev = parsed.data;
    const agent = instanceAgent(instanceId);
    switch (ev.type) {
      case 'log':
        await this.deps.store.logs.append([{ ts: ev.ts, level: ev.level, msg: ev.msg, agent, instanceId, taskId: ev.taskId ?? null }]);
        return;
      case 'lifecycle':
        await this.deps.store.logs.append([{ ts: ev.ts, level: 'info', msg: `instance ${ev.phase}`, agent, instanceId, taskId: null }]);
        return;
      case 'task.started':
        return this.started(agent, instanceId, ev.taskId, ev.attempt, ev.ts);
    }
  };

  readonly onHeartbeat = async ({ instanceId, payload }: InboundMessage): Promise<void> => {
    const parsed = Heartbeat.safeParse(payload);
    if (!parsed.success || parsed.data.instanceId !== instanceId) return;
    this.deps.presence.record(parsed.data, this.deps.clock.now());
  };

  private async started(agent: string, instanceId: string, taskId: string, attempt: number, ts: string): Promise<void> {
    const { store, bus } = this.deps;
    const task = await store.tasks.get(taskId);
    if (!task || task.agent !== agent) return this.reject(instanceId, 'event', `task ${taskId} is not for agent ${agent}`);
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
    const moved = await store.tasks.transition(taskId, ['queued', ...ACTIVE_STATUSES], {
      status: 'running',
      instanceId,
      attempt: Math.max(attempt, redelivered ? task.attempt + 1 : task.attempt),
      startedAt: ts,
    });
    if (moved) await this.taskLog(agent, instanceId, taskId, 'info', `task started on ${instanceId} (attempt ${moved.attempt})`);
  }

  private async taskLog(agent: string, instanceId: string, taskId: string, level: 'info' | 'warn', msg: string): Promise<void> {
    await this.deps.store.logs.append([{ ts: this.deps.clock.now().toISOString(), level, msg, agent, instanceId, taskId }]);
  }

  private reject(instanceId: string, what: string, why: string): void {
    this.deps.log('warn', `refused ${what} from ${instanceId}: ${why}`, { instanceId });
  }
}
