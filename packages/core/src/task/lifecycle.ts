import type { FinalStatus, TaskResult, TaskStatus, TerminalStatus } from '@aiflock/protocol';
import { FINAL_STATUSES } from '@aiflock/protocol';

/**
 * The task state machine: queued → running → completed | failed | cancelled | timed_out,
 * or dead_lettered when the bus gave up redelivering it.
 * A running task may go back to queued when its instance is lost and the bus redelivers it.
 */
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['running', 'cancelled', 'timed_out', 'failed', 'dead_lettered'],
  running: ['queued', 'completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
  dead_lettered: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

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
