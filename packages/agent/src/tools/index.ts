import type { ToolName } from '@aiflock/protocol';
import { filesTool } from './files.js';
import { httpTool } from './http.js';
import { shellTool } from './shell.js';
import type { AgentTool } from './tool.js';

/** The loop's tools by name: those that exist in this build. Others (browser, ask_human) add theirs here. */
export const TOOLS: Partial<Record<ToolName, AgentTool>> = {
  shell: shellTool,
  files: filesTool,
  http: httpTool,
};

export type { AgentTool, ToolCallContext, ToolOutcome } from './tool.js';
export { ToolError } from './tool.js';
