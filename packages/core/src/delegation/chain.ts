import { MAX_DELEGATION_DEPTH } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { Store, TaskRecord } from '../ports/store.js';
import type { RpcCaller } from '../rpc/router.js';
import { isTerminal } from '../task/lifecycle.js';

/**
 * A task and the tasks it was delegated from, nearest first, up to the one people or the
 * flock queued. Read at most one step past the deepest chain the flock allows, so a corrupt
 * loop of parent ids cannot hold a caller forever.
 */
export async function delegationChain(store: Pick<Store, 'tasks'>, task: TaskRecord): Promise<TaskRecord[]> {
  const chain = [task];
  let at = task;
  while (at.parentId && chain.length <= MAX_DELEGATION_DEPTH + 1) {
    const parent = await store.tasks.get(at.parentId);
    if (!parent) break;
    chain.push(parent);
    at = parent;
  }
  return chain;
}

/**
 * Which agent pays for a model call an instance makes for `taskId`: for a delegated task
 * still running, the agent at the top of its chain (who asked for the work); otherwise the
 * caller itself. A finished task's chain pays nothing more, so naming an old delegated
 * task cannot bill its delegator.
 */
export async function payingAgent(store: Pick<Store, 'tasks'>, caller: RpcCaller, taskId: string | undefined): Promise<string> {
  if (taskId === undefined) return caller.agent;
  const task = await store.tasks.get(taskId);
  if (!task || task.agent !== caller.agent) throw new FlockError('validation_failed', `taskId: no task ${taskId} of agent ${caller.agent}`, { field: 'taskId' });
  if (!task.parentId || isTerminal(task.status) || (task.instanceId !== null && task.instanceId !== caller.instanceId)) return caller.agent;
  const chain = await delegationChain(store, task);
  return chain[chain.length - 1]!.agent;
}
