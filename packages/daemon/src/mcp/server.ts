import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { FlockError } from '@aiflock/core';
import { MCP_TOOLS, isMcpToolName, mcpToolDescriptors, type McpToolSpec } from '@aiflock/protocol';
import { zodToFlock } from '../http/errors.js';
import { VERSION } from '../version.js';
import { RouteFailure, type RouteApi } from './route-api.js';
import { TOOL_ROUTES, type ToolCall } from './tools.js';

const INSTRUCTIONS =
  'Tools of an aiflock flock: its agents, their tasks (run, wait, cancel), the bulletin board, the village and the context plane. Each tool needs the scope its description names; the token this connection uses decides.';

/** One result shape for every tool: the route's JSON as text (and as structured content when it is an object). */
function answer(value: unknown): CallToolResult {
  const structured = value !== null && typeof value === 'object' && !Array.isArray(value) ? { structuredContent: value as Record<string, unknown> } : {};
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], ...structured };
}

/** A refusal is a tool error the model can read (`code: message`), with the API's error object as structured content. */
function refusal(code: string, message: string, details?: unknown): CallToolResult {
  const error = { code, message, ...(details === undefined ? {} : { details }) };
  return { isError: true, content: [{ type: 'text', text: `${code}: ${message}` }], structuredContent: { error } };
}

/**
 * An MCP server for one session, answering the tool catalogue. `callerOf` gives, per tool
 * call, the API as whoever sent that call (each HTTP request carries its own credentials).
 */
export function flockMcpServer(callerOf: (authInfo: unknown) => RouteApi, log: { warn(obj: object, msg: string): void }): Server {
  const server = new Server({ name: 'aiflock', title: 'aiflock', version: VERSION }, { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS });
  const tools = mcpToolDescriptors();
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const name = req.params.name;
    if (!isMcpToolName(name)) throw new McpError(ErrorCode.InvalidParams, `unknown tool "${name}"; tools/list names them`);
    const spec: McpToolSpec = MCP_TOOLS[name];
    const args = req.params.arguments ?? {};
    const checked = spec.input.safeParse(args);
    if (!checked.success) {
      const err = zodToFlock(checked.error, 'arguments');
      return refusal(err.code, err.message, err.details);
    }
    const token = extra._meta?.progressToken;
    let step = 0;
    const call: ToolCall = {
      api: callerOf(extra.authInfo),
      signal: extra.signal,
      progress: async (message) => {
        if (token === undefined) return;
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: ++step, message } });
      },
    };
    try {
      // The checked arguments' types; the routes get them as sent (each route validates again).
      return answer(await (TOOL_ROUTES[name] as (input: unknown, call: ToolCall) => Promise<unknown>)(args, call));
    } catch (err) {
      if (err instanceof RouteFailure) return refusal(err.code, err.message, err.details);
      if (err instanceof FlockError) return refusal(err.code, err.message, err.details);
      if (extra.signal.aborted) throw err;
      log.warn({ err, tool: name }, 'MCP tool failed');
      return refusal('internal', 'internal error; see the daemon log');
    }
  });
  return server;
}
