export { defineAgent, HandlerError, abortReason } from './sdk.js';
export type { AgentDefinition, Handler, HandlerOutput, TaskContext, TaskLogger, AbortReason } from './sdk.js';
export { runAgent } from './runtime.js';
export type { AgentHandle, RunAgentOptions } from './runtime.js';
export { parseRuntimeEnv } from './env.js';
export { echo } from './handlers/echo.js';
export { shell, ShellInput } from './handlers/shell.js';
export type { ShellOutput } from './handlers/shell.js';
export { RUNTIME_VERSION } from './version.js';
