import type { TaskResult, TaskStatus, TerminalStatus } from '@aiflock/protocol';
import { TERMINAL_STATUSES } from '@aiflock/protocol';

/**
 * The task state machine: queued → running → completed | failed | cancelled | timed_out.
 * A running task may go back to queued when its instance is lost and the bus redelivers it.
 */
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['running', 'cancelled', 'timed_out', 'failed'],
  running: ['queued', 'completed', 'failed', 'cancelled', 'timed_out'],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses a task may be in for `to` to be a legal next status. */
export function statusesBefore(to: TaskStatus): TaskStatus[] {
  return (Object.keys(TRANSITIONS) as TaskStatus[]).filter((from) => canTransition(from, to));
}

export function isTerminal(status: TaskStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export type ResultDecision =
  | { apply: true; status: TerminalStatus }
  | { apply: false; reason: 'already_finished' | 'wrong_instance' | 'stale_attempt' };

/**
 * Whether a result reported by an instance may finish a task. Late and duplicate results
 * (after a cancel, a timeout, or a redelivery to another replica) change nothing.
 */
export function decideResult(
  task: { status: TaskStatus; attempt: number; agent: string },
  result: TaskResult,
  reporterAgent: string,
): ResultDecision {
  if (reporterAgent !== task.agent) return { apply: false, reason: 'wrong_instance' };
  if (isTerminal(task.status)) return { apply: false, reason: 'already_finished' };
  if (result.attempt < task.attempt) return { apply: false, reason: 'stale_attempt' };
  return { apply: true, status: result.status };
}
