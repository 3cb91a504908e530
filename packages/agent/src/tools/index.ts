import type { ToolName } from '@aiflock/protocol';
import { askHumanTool } from './ask-human.js';
import { browserTool } from './browser.js';
import { delegateTool } from './delegate.js';
import { filesTool } from './files.js';
import { httpTool } from './http.js';
import { shellTool } from './shell.js';
import type { AgentTool } from './tool.js';

/** The loop's tools by name; the manifest enables each (`tools:`). */
export const TOOLS: Partial<Record<ToolName, AgentTool>> = {
  shell: shellTool,
  files: filesTool,
  http: httpTool,
  ask_human: askHumanTool,
  browser: browserTool,
  delegate: delegateTool,
};

export type { AgentTool, ToolCallContext, ToolOutcome } from './tool.js';
export { ToolError } from './tool.js';
