import { MAX_DELEGATION_DEPTH, type TaskView } from '@aiflock/protocol';
import type { z } from 'zod';
import type { DelegateRpc, DelegationWaitRpc } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Store, TaskRecord } from '../ports/store.js';
import type { RpcCaller, RpcRouter } from '../rpc/router.js';
import { isTerminal, statusesBefore } from '../task/lifecycle.js';
import { taskView, type TaskService } from '../services/tasks.js';
import { delegationChain } from './chain.js';

export interface DelegationDeps {
  store: Store;
  tasks: TaskService;
  clock: Clock;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

/**
 * Agents handing work to each other. The caller names one of its own running tasks as the
 * parent; the control plane checks the caller's manifest lists the target (`delegates`),
 * refuses a chain that would come back to an agent already in it or grow deeper than
 * `MAX_DELEGATION_DEPTH`, and queues the child linked to its parent, with no later deadline.
 * When a parent ends, its children that have not are cancelled.
 */
export class Delegation {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly deps: DelegationDeps) {}

  async delegate(caller: RpcCaller, input: z.output<typeof DelegateRpc>): Promise<TaskView> {
    const { store, clock } = this.deps;
    const parent = await store.tasks.get(input.parentTaskId);
    // A parent must be a live task of this very instance: naming another agent's task (or a
    // finished one) would let a caller hang work, and its cost, on a chain it is not part of.
    if (!parent || parent.agent !== caller.agent || isTerminal(parent.status) || (parent.instanceId !== null && parent.instanceId !== caller.instanceId)) {
      throw new FlockError('delegation_parent_invalid', `parentTaskId: ${input.parentTaskId} is not a running task of instance ${caller.instanceId}`, { parentTaskId: input.parentTaskId });
    }
    const allowed = (await store.deployments.get(caller.agent))?.manifest.delegates ?? [];
    if (!allowed.includes(input.agent)) {
      throw new FlockError(
        'delegation_not_permitted',
        `agent "${caller.agent}" may not delegate to "${input.agent}": its manifest's delegates are ${allowed.length ? allowed.map((a) => `"${a}"`).join(', ') : 'empty'}`,
        { agent: input.agent, delegates: allowed },
      );
    }
    const chain = await delegationChain(store, parent);
    const agents = chain.map((t) => t.agent).reverse();
    if (agents.includes(input.agent)) {
      throw new FlockError('delegation_cycle', `delegating to "${input.agent}" would close a cycle: ${[...agents, input.agent].join(' -> ')}`, { chain: agents, agent: input.agent });
    }
    if (chain.length > MAX_DELEGATION_DEPTH) {
      throw new FlockError('delegation_too_deep', `delegating to "${input.agent}" would make a chain ${chain.length + 1} agents long (${[...agents, input.agent].join(' -> ')}); at most ${MAX_DELEGATION_DEPTH} delegations deep`, {
        chain: agents,
        max: MAX_DELEGATION_DEPTH,
      });
    }
    const left = Date.parse(parent.deadline) - clock.now().getTime();
    if (left < 100) throw new FlockError('delegation_parent_invalid', `parentTaskId: task ${parent.id} is at its deadline; there is no time left to delegate`, { parentTaskId: parent.id });
    // The child's deadline is cut at the parent's by `create`; the request itself stays what the
    // caller asked, so that a retried call matches the task it queued.
    const { task, created } = await this.deps.tasks.create(
      { agent: input.agent, type: input.type, input: input.input, timeoutMs: input.timeoutMs },
      `delegate:${parent.id}:${input.callId}`,
      undefined,
      { parentId: parent.id, deadline: parent.deadline },
    );
    if (created) {
      const ts = clock.now().toISOString();
      await store.logs.append([
        { ts, level: 'info', msg: `delegated task ${task.id} to agent ${input.agent}`, agent: parent.agent, instanceId: caller.instanceId, taskId: parent.id },
        { ts, level: 'info', msg: `delegated by agent ${parent.agent} (task ${parent.id})`, agent: task.agent, instanceId: '-', taskId: task.id },
      ]);
    }
    return task;
  }

  /** A task the caller's agent delegated, after it finished or `waitMs` passed. */
  async wait(caller: RpcCaller, input: z.output<typeof DelegationWaitRpc>): Promise<TaskView> {
    const { store } = this.deps;
    const child = await store.tasks.get(input.taskId);
    const parent = child?.parentId ? await store.tasks.get(child.parentId) : undefined;
    // A task that does not exist and one another agent delegated answer alike.
    if (!child || parent?.agent !== caller.agent) throw new FlockError('validation_failed', `taskId: no task ${input.taskId} delegated by agent ${caller.agent}`, { field: 'taskId' });
    if (!isTerminal(child.status) && input.waitMs > 0) await this.until(child.id, input.waitMs);
    return taskView((await store.tasks.get(child.id)) ?? child);
  }

  /**
   * For every task that reaches a final status: wakes who waits for it, and cancels the
   * children it leaves unfinished (nobody will read their answers).
   */
  readonly taskFinished = (task: TaskRecord): void => {
    for (const fn of this.waiters.get(task.id) ?? []) fn();
    void this.cancelChildren(task).catch((err: unknown) => this.deps.log('error', `cancelling the delegated tasks of ${task.id} failed: ${String(err)}`, { taskId: task.id }));
  };

  private async cancelChildren(task: TaskRecord): Promise<void> {
    const open = await this.deps.store.tasks.list({ parentId: task.id, status: statusesBefore('cancelled'), limit: 500 });
    for (const child of open) {
      await this.deps.tasks.cancel(child.id, `its parent task ${task.id} ended (${task.status})`).catch((err: unknown) => {
        if (!(err instanceof FlockError && err.code === 'task_not_cancellable')) throw err;
      });
    }
  }

  private until(taskId: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (!set.size) this.waiters.delete(taskId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }
}

/** `agent.<id>.rpc.tasks.delegate|wait`: the caller is the instance in the subject. */
export function mountDelegationOps(rpc: RpcRouter, delegation: Delegation): void {
  rpc.op('tasks.delegate', (caller, input) => delegation.delegate(caller, input));
  rpc.op('tasks.wait', (caller, input) => delegation.wait(caller, input));
}
