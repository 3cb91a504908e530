import * as z from 'zod';
import { TaskStep } from './agent-loop.js';
import { AgentName, InstanceId, TaskId } from './names.js';
import { EVENT_BATCH_MAX } from './subjects.js';

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

/** `agent.<id>.heartbeat`: liveness plus what the instance is doing. */
export const Heartbeat = z
  .object({
    instanceId: InstanceId,
    agent: AgentName,
    ts: z.string().datetime(),
    state: z.enum(['starting', 'idle', 'busy', 'stopping']),
    runningTasks: z.array(TaskId),
    uptimeMs: z.number().int().min(0),
    rssBytes: z.number().int().min(0),
    runtimeVersion: z.string(),
  })
  .strict();
export type Heartbeat = z.infer<typeof Heartbeat>;

/** `agent.<id>.events`: progress, logs and lifecycle of an instance and its tasks. */
export const AgentEvent = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('log'),
      ts: z.string().datetime(),
      level: LogLevel,
      msg: z.string().max(64 * 1024),
      taskId: TaskId.optional(),
      data: z.record(z.string(), z.unknown()).optional(),
    })
    .strict(),
  z.object({ type: z.literal('task.started'), ts: z.string().datetime(), taskId: TaskId, attempt: z.number().int().min(1) }).strict(),
  z
    .object({
      type: z.literal('lifecycle'),
      ts: z.string().datetime(),
      phase: z.enum(['starting', 'ready', 'stopping']),
      handlers: z.array(z.string()).optional(),
    })
    .strict(),
  /** One step of an agent loop's task (thought, tool call and result, question, answer). */
  TaskStep,
]);
export type AgentEvent = z.infer<typeof AgentEvent>;

/**
 * `agent.<id>.events`, several at once: what queued up in an instance's event sink while its
 * last publish was in flight, sent as one message (one stored in the events stream, one read
 * by the control plane) instead of one each. Each event is checked as if it came alone, so a
 * bad one is refused without its neighbours. A task's start is never batched: it is the fence
 * of its delivery and is published (and confirmed) alone.
 */
export const AgentEventBatch = z.object({ type: z.literal('batch'), events: z.array(z.unknown()).min(1).max(EVENT_BATCH_MAX) }).strict();
export type AgentEventBatch = z.infer<typeof AgentEventBatch>;

/** `ctl.<id>`: control-plane orders to one instance. */
export const ControlMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('cancel'), taskId: TaskId, reason: z.string().max(500) }).strict(),
  /**
   * Take no new task, finish the running ones (for up to `graceMs`, then abort them: they go
   * back to the queue), then exit. A drained node's instance goes this way, as a pod evicted
   * with a grace period does, once its replacement answers elsewhere.
   */
  z.object({ type: z.literal('stop'), reason: z.string().max(500), graceMs: z.number().int().min(0).max(7 * 24 * 3_600_000) }).strict(),
]);
export type ControlMessage = z.infer<typeof ControlMessage>;
