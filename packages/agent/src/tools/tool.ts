import type { TaskStep, ToolName, ToolResultSummary } from '@aiflock/protocol';
import type { TaskContext } from '../sdk.js';
export interface ToolCallContext extends TaskContext { callId: string;
  emit(step: Omit<TaskStep, 'type' | 'ts' | 'taskId' | 'seq'>): void; }
export interface ToolOutcome { content: string; summary: ToolResultSummary; }
export interface AgentTool { name: ToolName; description: string; parameters: Record<string, unknown>;
  run(args: Record<string, unknown>, ctx: ToolCallContext): Promise<ToolOutcome>; }
