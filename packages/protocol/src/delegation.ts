import * as z from 'zod';
import { AgentName, TaskId } from './names.js';
import { TaskType } from './task.js';

/**
 * Delegation: an agent's task hands work to another agent (`ctx.delegate` in the SDK, the
 * loop's `delegate` tool) through the control plane, which checks the caller's manifest
 * (`delegates`), bounds the chain and links the child task to its parent.
 */

/**
 * How many delegations deep a chain may go: a task people queued is depth 0, what it
 * delegates depth 1, and so on. Deep chains multiply cost and make failures hard to follow.
 */
export const MAX_DELEGATION_DEPTH = 3;

/** `tasks.delegate`: run a task on `agent` on behalf of the caller's task `parentTaskId`. */
export const DelegateRpc = z
  .object({
    /** The caller's own task this work is for; the child is linked to it and cancelled with it. */
    parentTaskId: TaskId,
    /** Names the call within the parent task: a retried call with the same id queues nothing new. */
    callId: z.string().min(1).max(100),
    agent: AgentName,
    type: TaskType.optional(),
    input: z.unknown(),
    /** Never beyond the parent's own deadline. */
    timeoutMs: z.number().int().min(100).max(7 * 24 * 3600 * 1000).optional(),
  })
  .strict();
export type DelegateRpc = z.input<typeof DelegateRpc>;

/** `tasks.wait`: a task this agent delegated, once finished; holds up to `waitMs` for it. */
export const DelegationWaitRpc = z.object({ taskId: TaskId, waitMs: z.number().int().min(0).max(60_000).default(20_000) }).strict();
export type DelegationWaitRpc = z.input<typeof DelegationWaitRpc>;
