import { TaskStep, type AgentEvent } from '@aiflock/protocol';
import type { TaskLogger } from '../sdk.js';

/** What a step says; the recorder adds type, time, task and sequence number. */
export type StepBody = Omit<TaskStep, 'type' | 'ts' | 'taskId' | 'seq'>;

/** Most characters of a step's text and of each string argument it carries (a bus message stays small). */
const TEXT_MAX = 64 * 1024;
const ARG_MAX = 8 * 1024;

/**
 * Numbers a task's steps from 0 and publishes each as a `task.step` event as it happens, in
 * order with the task's log lines (one event sink carries both). A step that would not pass
 * the contract is a bug here: it is logged, not sent.
 */
export class StepRecorder {
  private seq = 0;
  readonly steps: TaskStep[] = [];

  constructor(
    private readonly taskId: string,
    private readonly publish: (e: AgentEvent) => void,
    private readonly log: TaskLogger,
  ) {}

  emit(body: StepBody): TaskStep {
    const step = {
      type: 'task.step' as const,
      ts: new Date().toISOString(),
      taskId: this.taskId,
      seq: this.seq,
      ...body,
      ...(body.text === undefined ? {} : { text: cut(body.text, TEXT_MAX) }),
      ...(body.args === undefined ? {} : { args: boundArgs(body.args) }),
    };
    const checked = TaskStep.safeParse(step);
    if (!checked.success) {
      this.log.error(`internal error: step ${this.seq} (${body.kind}) does not fit the contract: ${checked.error.message}`);
      return step;
    }
    this.seq++;
    this.steps.push(checked.data);
    this.publish(checked.data);
    return checked.data;
  }
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 40)}… [${s.length - max + 40} characters cut]`;
}

/** Arguments as recorded: long strings (a file's new content) cut, the rest as the model sent it. */
export function boundArgs(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, typeof v === 'string' ? cut(v, ARG_MAX) : v]));
}
