import type { TaskStep, ToolName, ToolResultSummary } from '@aiflock/protocol';
import type { TaskContext } from '../sdk.js';

/**
 * One tool of the agent loop. The loop offers the model each enabled tool's name,
 * description and JSON Schema, runs the calls it asks for and reads `content` back to it;
 * `summary` goes into the step, the audit log and the transcript.
 */
export interface ToolCallContext extends TaskContext {
  callId: string;
  /** Report an extra step (e.g. a question) in order with the loop's own. */
  emit(step: Omit<TaskStep, 'type' | 'ts' | 'taskId' | 'seq'>): void;
}

export interface ToolOutcome {
  /** What the model reads back. */
  content: string;
  summary: ToolResultSummary;
}

export interface AgentTool {
  name: ToolName;
  description: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
  run(args: Record<string, unknown>, ctx: ToolCallContext): Promise<ToolOutcome>;
  /** Called once the task ends however it ends, to free what the tool kept for it (a browser). */
  endTask?(taskId: string): Promise<void>;
}

/**
 * A refusal or failure the model should read and act on (bad arguments, a path outside the
 * workspace): the loop turns it into a tool result with `ok: false`, not a failed task.
 */
export class ToolError extends Error {
  override name = 'ToolError';
}
