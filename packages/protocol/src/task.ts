import * as z from 'zod';
import { AgentName, InstanceId, TaskId } from './names.js';
import { RESULT_BATCH_MAX } from './subjects.js';

/** `waiting_for_human`: a running task paused on a person's answer (`ask_human`). */
export const TASK_STATUSES = ['queued', 'running', 'waiting_for_human', 'completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'] as const;
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;

/** How an instance may report a task it ran (a TaskResult's status). */
export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled', 'timed_out'] as const;
export const TerminalStatus = z.enum(TERMINAL_STATUSES);
export type TerminalStatus = z.infer<typeof TerminalStatus>;

/**
 * Every status a task ends in: what instances report, plus `dead_lettered`, which only the
 * control plane decides (delivered maxAttempts times without a result).
 */
export const FINAL_STATUSES = [...TERMINAL_STATUSES, 'dead_lettered'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

export const TaskType = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'a lower-case task type such as "echo" or "shell"');

/**
 * The message on `tasks.<agent>`. Seed 0's fields (id, type, data, timestamp) are kept;
 * the rest is what a job system needs.
 */
export const Task = z
  .object({
    id: TaskId,
    type: TaskType,
    data: z.unknown(),
    timestamp: z.string().datetime(),
    agent: AgentName,
    attempt: z.number().int().min(1),
    maxAttempts: z.number().int().min(1),
    deadline: z.string().datetime(),
    idempotencyKey: z.string().max(200).optional(),
  })
  .strict();
export type Task = z.infer<typeof Task>;

export const TaskCost = z
  .object({ tokensIn: z.number().int().min(0), tokensOut: z.number().int().min(0), aiDollarMinor: z.number().int().min(0) })
  .strict();

/** What an instance publishes on `agent.<id>.results`. Seed 0's fields are kept. */
export const TaskResult = z
  .object({
    agentId: InstanceId,
    taskId: TaskId,
    status: TerminalStatus,
    timestamp: z.string().datetime(),
    result: z.string(),
    output: z.unknown().optional(),
    error: z.string().optional(),
    attempt: z.number().int().min(1),
    durationMs: z.number().int().min(0),
    cost: TaskCost.optional(),
  })
  .strict();
export type TaskResult = z.infer<typeof TaskResult>;

/**
 * `agent.<id>.results`, several at once: the results an instance had ready while its last
 * result publish was in flight, sent as one message (one stored in the results stream, one
 * read and one acknowledgement by the control plane) instead of one each. Each item is
 * checked and applied as if it came alone (schema, publisher, the task's agent, the finished
 * set), so a bad or foreign one is refused without its neighbours. A result alone is sent
 * as a plain `TaskResult`, as before.
 */
export const TaskResultBatch = z.object({ type: z.literal('batch'), results: z.array(z.unknown()).min(1).max(RESULT_BATCH_MAX) }).strict();
export type TaskResultBatch = z.infer<typeof TaskResultBatch>;
