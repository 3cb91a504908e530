import type { TaskClaim, TaskClaimRpc } from '@aiflock/protocol';
import { MISSED_HEARTBEATS } from '../deployment/instance-health.js';
import { FlockError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import type { RpcCaller, RpcRouter } from '../rpc/router.js';
import type { Presence } from '../services/ingest.js';
import { ACTIVE_STATUSES, isTerminal } from './lifecycle.js';

export interface TaskClaimsDeps {
  store: Store;
  clock: Clock;
  /** Instances' last heartbeats as this control plane heard them. */
  presence: Pick<Presence, 'last' | 'lastState'>;
  /** Whether everything instances had stored (starts, results) has been recorded: see `Bus.ingestCaughtUp`. */
  caughtUp: () => Promise<boolean>;
}

/**
 * Answers `tasks.claim` (see the protocol's task-claim.ts): whether an instance may run a
 * task JetStream delivered to it again. A task that has ended is never run again; one that a
 * live instance holds is left to it (the asker keeps its delivery and asks again, so the
 * task is not lost if that holder dies); anything else runs. The holder counts as live while
 * its heartbeats are as recent as the reconciler requires of a healthy instance and it is
 * not stopping; a removed instance is forgotten at once.
 *
 * The answer is only as good as what the control plane has read. Starts and results reach
 * it through streams it reads asynchronously, and a lost NATS server can hold that reading
 * back for seconds while the task's queue has already redelivered it: a task its holder
 * started, even finished, would still look queued and be run again. So the task is read
 * only once all that was stored before the question has been recorded; until then the
 * asker is told to wait.
 */
export class TaskClaims {
  constructor(private readonly deps: TaskClaimsDeps) {}

  async claim(caller: RpcCaller, input: TaskClaimRpc): Promise<TaskClaim> {
    const caughtUp = await this.deps.caughtUp();
    const task = await this.deps.store.tasks.get(input.taskId);
    // Another agent's task answers like a missing one: its existence is not the caller's to learn.
    if (!task || task.agent !== caller.agent) throw new FlockError('task_not_found', `task ${input.taskId} not found`);
    const holder = task.instanceId;
    if (isTerminal(task.status)) return { verdict: 'finished', status: task.status, holder };
    const active = (ACTIVE_STATUSES as readonly string[]).includes(task.status);
    if (active && holder && holder !== caller.instanceId && (await this.live(task.agent, holder))) return { verdict: 'held', status: task.status, holder };
    if (!caughtUp) return { verdict: 'wait', status: task.status, holder };
    return { verdict: 'run', status: task.status, holder };
  }

  private async live(agent: string, instanceId: string): Promise<boolean> {
    const last = this.deps.presence.last(instanceId);
    // A stopping instance has given back (nak'ed) what it could not finish.
    if (!last || this.deps.presence.lastState(instanceId) === 'stopping') return false;
    const deployment = await this.deps.store.deployments.get(agent);
    const intervalMs = deployment?.manifest.heartbeat.interval ?? 30_000;
    return this.deps.clock.now().getTime() - last.getTime() <= MISSED_HEARTBEATS * intervalMs;
  }
}

export function mountClaimOps(rpc: RpcRouter, claims: TaskClaims): void {
  rpc.op('tasks.claim', (caller, input) => claims.claim(caller, input));
}
