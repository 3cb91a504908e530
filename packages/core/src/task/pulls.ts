import { subjects, type TaskPullRpc } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { Bus } from '../ports/bus.js';
import type { Store } from '../ports/store.js';
import type { RpcRouter } from '../rpc/router.js';

/**
 * Answers `tasks.pull` (see the protocol's task-claim.ts): a pull request on the caller's own
 * queue, made by the control plane, whose tasks go to the caller's `deliveries.<id>.<request>`.
 * The queue is always the caller's agent's (the subject proves the instance), and one request
 * asks for no more than the agent's `concurrency`: an instance cannot take another agent's
 * work, nor hoard its own agent's queue.
 */
export function mountPullOps(rpc: RpcRouter, deps: { store: Pick<Store, 'deployments'>; bus: Pick<Bus, 'pullFor'> }): void {
  rpc.op('tasks.pull', async (caller, input: TaskPullRpc) => {
    const deployment = await deps.store.deployments.get(caller.agent);
    if (!deployment) throw new FlockError('agent_not_found', `agent ${caller.agent} is not deployed`);
    const most = deployment.manifest.concurrency;
    if (input.batch > most) throw new FlockError('validation_failed', `batch ${input.batch} is more than agent ${caller.agent} runs at once (concurrency ${most})`, { field: 'batch' });
    if (!deps.bus.pullFor) throw new FlockError('not_ready', 'this control plane cannot pull tasks for instances');
    const reply = `${subjects.deliveries(caller.instanceId)}.${input.request}`;
    await deps.bus.pullFor(caller.agent, { batch: input.batch, expiresMs: input.expiresMs, reply });
    return { reply };
  });
}
