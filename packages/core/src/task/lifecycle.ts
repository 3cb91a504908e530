import type { FinalStatus, TaskResult, TaskStatus, TerminalStatus } from '@aiflock/protocol';
import { FINAL_STATUSES } from '@aiflock/protocol';

/**
 * The task state machine: queued → running → completed | failed | cancelled | timed_out,
 * or dead_lettered when the bus gave up redelivering it.
 * A running task may go back to queued when its instance is lost and the bus redelivers it.
 * A running task waits for a person (`waiting_for_human`, an agent's `ask_human`) and runs
 * again once answered; while it waits it may still end (cancel, deadline, its result, the
 * instance lost and the task redelivered), exactly as a running task.
 */
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['running', 'cancelled', 'timed_out', 'failed', 'dead_lettered'],
  running: ['queued', 'waiting_for_human', 'completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'],
  waiting_for_human: ['running', 'queued', 'completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
  dead_lettered: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses in which a task holds an instance's attention: it was started and has not ended. */
export const ACTIVE_STATUSES = ['running', 'waiting_for_human'] as const satisfies readonly TaskStatus[];

/** Statuses a task may be in for `to` to be a legal next status. */
export function statusesBefore(to: TaskStatus): TaskStatus[] {
  return (Object.keys(TRANSITIONS) as TaskStatus[]).filter((from) => canTransition(from, to));
}

export function isTerminal(status: TaskStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export type ResultDecision =
  | { apply: true; status: TerminalStatus }
  | { apply: false; reason: 'already_finished' | 'wrong_instance' };

/**
 * Whether a result reported by an instance may finish a task. The first result of any
 * attempt finishes it (delivery is at least once: an earlier attempt that completes late
 * did the work); later and duplicate results (after a cancel, a timeout, or from another
 * replica) change nothing.
 */
export function decideResult(
  task: { status: TaskStatus; agent: string },
  result: TaskResult,
  reporterAgent: string,
): ResultDecision {
  if (reporterAgent !== task.agent) return { apply: false, reason: 'wrong_instance' };
  if (isTerminal(task.status)) return { apply: false, reason: 'already_finished' };
  return { apply: true, status: result.status };
}
