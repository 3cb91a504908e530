import type { AgentOpInput, TaskView } from '@aiflock/protocol';
import { FINAL_STATUSES } from '@aiflock/protocol/task';
import { callOp, type RpcCall } from './bus-rpc.js';
import { describe } from './connect.js';
import type { TaskLogger } from './sdk.js';
import { abortable, backoff, sleep } from './timing.js';

/** How long one `tasks.wait` holds on the control plane before asking again. */
const WAIT_MS = 20_000;

export interface DelegateOptions {
  /** The task type on the other agent; its first handler when absent. */
  type?: string;
  /** Never beyond this task's own deadline (the control plane cuts it there). */
  timeoutMs?: number;
  /**
   * Names the call within this task: calling again with the same id (after a retry of this
   * task, say) finds the task it queued instead of queueing another. One is made up per
   * call when absent.
   */
  callId?: string;
}

/** The bus ops behind delegation: queue a task on another agent, then wait for it. */
export class TasksClient {
  constructor(private readonly call: RpcCall) {}
  delegate(input: AgentOpInput<'tasks.delegate'>): Promise<TaskView> {
    return callOp(this.call, 'tasks.delegate', input);
  }
  /** Holds up to `waitMs` on the control plane; the request itself may take a little longer. */
  wait(input: AgentOpInput<'tasks.wait'>): Promise<TaskView> {
    return callOp(this.call, 'tasks.wait', input, (input.waitMs ?? WAIT_MS) + 10_000);
  }
}

export type Delegate = (agent: string, input: unknown, opts?: DelegateOptions) => Promise<TaskView>;

/**
 * `ctx.delegate` for one task: queues the work on `agent` as a child of this task and
 * resolves with the child once it has finished, however it finished (read its `status`).
 * Refusals (an agent the manifest does not list, a cycle, too deep) reject at once; a stop
 * of this task rejects too, and the control plane cancels the child.
 */
export function delegator(tasks: TasksClient, parentTaskId: string, signal: AbortSignal, log: TaskLogger): Delegate {
  let calls = 0;
  return async (agent, input, opts = {}) => {
    const callId = opts.callId ?? `delegate-${++calls}`;
    const child = await tasks.delegate({ parentTaskId, callId, agent, input, ...(opts.type ? { type: opts.type } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
    log.info(`delegated task ${child.id} to ${agent}`);
    for (let failures = 0, view = child; ; ) {
      if ((FINAL_STATUSES as readonly string[]).includes(view.status)) return view;
      try {
        const next = await abortable(tasks.wait({ taskId: child.id, waitMs: WAIT_MS }), signal);
        if (next === null) throw new StoppedWaiting(child.id, signal);
        view = next;
        failures = 0;
      } catch (err) {
        if (err instanceof StoppedWaiting) throw err;
        const delay = backoff(failures++, 500, 10_000);
        log.warn(`waiting for delegated task ${child.id} failed (${describe(err)}); asking again in ${delay} ms`);
        await sleep(delay, signal);
      }
    }
  };
}

/** This task stopped (cancel, deadline, shutdown) while its delegated task ran; the control plane cancels that one. */
class StoppedWaiting extends Error {
  override name = 'StoppedWaiting';
  constructor(childId: string, signal: AbortSignal) {
    super(`stopped (${String(signal.reason)}) while waiting for delegated task ${childId}`);
  }
}
