import type { TaskStep } from '@aiflock/protocol';

/** One step of an agent loop's task, as recorded: who published it, and the step itself. */
export interface TaskStepRecord {
  agent: string;
  instanceId: string;
  step: TaskStep;
}

/** The steps of agent-loop tasks (thought, tool call and result, answer), in the order they happened. */
export interface TaskStepStore {
  /**
   * Records a step; false when the same step (task, instance, seq, time) is already there,
   * as when the bus redelivers events after a daemon restart.
   */
  append(record: TaskStepRecord): Promise<boolean>;
  /** A task's steps, oldest first (by arrival; seq restarts at 0 on another attempt). */
  list(taskId: string, limit: number): Promise<TaskStepRecord[]>;
}
