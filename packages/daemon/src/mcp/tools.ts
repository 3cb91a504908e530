import type { z } from 'zod';
import type { MCP_TOOLS, McpToolName } from '@aiflock/protocol';
import type { RouteApi } from './route-api.js';
import { runAndWait, type ToolProgress } from './run-and-wait.js';

type Input<K extends McpToolName> = z.input<(typeof MCP_TOOLS)[K]['input']>;

/** What a tool call gets besides its arguments: the API as the caller, and the call's progress and cancellation. */
export interface ToolCall {
  api: RouteApi;
  progress: ToolProgress;
  signal: AbortSignal;
}

const enc = encodeURIComponent;
/** The arguments but `keys`, e.g. those that went into the path. */
const without = <T extends object>(o: T, ...keys: (keyof T)[]): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k as keyof T)));

/**
 * What each tool of the catalogue does, as calls to the HTTP routes whose schemas it takes.
 * The arguments arrive checked against the tool's schema but untransformed, so each route
 * validates exactly what an HTTP client would have sent it.
 */
export const TOOL_ROUTES: { [K in McpToolName]: (input: Input<K>, call: ToolCall) => Promise<unknown> } = {
  agents_list: (_i, { api }) => api.call('GET', '/v1/agents'),
  agents_get: (i, { api }) => api.call('GET', `/v1/agents/${enc(i.name)}`),
  tasks_run: (i, { api }) => api.call('POST', '/v1/tasks', { body: i }),
  tasks_run_and_wait: (i, call) => runAndWait(call.api, i, call.progress, call.signal),
  tasks_get: (i, { api }) => api.call('GET', `/v1/tasks/${enc(i.id)}`),
  tasks_cancel: (i, { api }) => api.call('POST', `/v1/tasks/${enc(i.id)}/cancel`),
  board_list: (i, { api }) => api.call('GET', '/v1/board/posts', { query: i }),
  board_read: (i, { api }) => api.call('GET', `/v1/board/posts/${enc(i.id)}`),
  board_post: (i, { api }) => api.call('POST', '/v1/board/posts', { body: i }),
  world_look: (_i, { api }) => api.call('GET', '/v1/world'),
  world_perceive: (i, { api }) => api.call('GET', `/v1/agents/${enc(i.name)}/sight`, { query: without(i, 'name') }),
  context_search: (i, { api }) => api.call('GET', '/v1/context/search', { query: i }),
  context_pack: (i, { api }) => api.call('GET', `/v1/context/${enc(i.jobId)}`, { query: without(i, 'jobId') }),
  context_collections: (_i, { api }) => api.call('GET', '/v1/context/collections'),
  memory_recall: (i, { api }) => api.call('GET', `/v1/memory/${enc(i.agent)}`, { query: { q: i.query, k: i.k } }),
};
