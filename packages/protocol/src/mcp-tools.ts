import * as z from 'zod';
import { CreateTaskRequest } from './api.js';
import { ContextPackQuery, MemoryRecallInput, SearchQuery } from './context.js';
import { NewPost, PostId, PostQuery } from './economy.js';
import { AgentName, TaskId } from './names.js';
import { WorldSightQuery } from './world-sight.js';

/**
 * The flock's Model Context Protocol tools: one catalogue for both transports (the daemon's
 * streamable HTTP endpoint `/v1/mcp`, and `aiflock mcp` on stdio, which relays to it). Each
 * tool is one HTTP route (run-and-wait: two), called with the caller's own credentials, so its
 * input schema is the schema that route validates, and `scope` is the scope that route needs.
 */
export interface McpToolSpec {
  title: string;
  description: string;
  /** The scope the tool's route needs; a token without it gets the route's `forbidden`. */
  scope: string;
  input: z.ZodObject;
  /** Only reads (MCP `readOnlyHint`). */
  readOnly: boolean;
  /** May undo or end something (MCP `destructiveHint`); only meaningful when not read-only. */
  destructive?: boolean;
}

const none = z.object({}).strict();

/**
 * `tasks_run_and_wait`: a task as `POST /v1/tasks` takes it, and how long to wait for it.
 * While it runs the tool sends progress notifications (when the caller asked with a
 * progress token); cancelling the call cancels the task.
 */
export const RunAndWaitInput = CreateTaskRequest.extend({
  /** Answer with the task still running after this long; unset, wait until it finishes. */
  waitMs: z.number().int().min(1000).max(24 * 3600 * 1000).optional(),
});
export type RunAndWaitInput = z.input<typeof RunAndWaitInput>;

export const MCP_TOOLS = {
  agents_list: {
    title: 'List agents',
    description: 'Every deployed agent with its status, replicas and instances.',
    scope: 'agents:read',
    input: none,
    readOnly: true,
  },
  agents_get: {
    title: 'Describe an agent',
    description: 'One agent: manifest digest, instances, compute tier and limits, and its place in the village.',
    scope: 'agents:read',
    input: z.object({ name: AgentName }).strict(),
    readOnly: true,
  },
  tasks_run: {
    title: 'Queue a task',
    description: 'Queue a task for an agent (its `type` picks the handler, e.g. "echo", "shell", "llm") and answer at once with the queued task; see tasks_get or tasks_run_and_wait.',
    scope: 'jobs:write',
    input: CreateTaskRequest,
    readOnly: false,
  },
  tasks_run_and_wait: {
    title: 'Run a task and wait for it',
    description:
      'Queue a task and answer once it finishes (completed, failed, cancelled, dead-lettered) with its result. Sends progress notifications while it runs; cancelling the call cancels the task. `waitMs` answers earlier with the task still running.',
    scope: 'jobs:write',
    input: RunAndWaitInput,
    readOnly: false,
  },
  tasks_get: {
    title: 'Get a task',
    description: 'One task: status, result or error, attempts and timing.',
    scope: 'jobs:read',
    input: z.object({ id: TaskId }).strict(),
    readOnly: true,
  },
  tasks_cancel: {
    title: 'Cancel a task',
    description: 'Cancel a queued or running task.',
    scope: 'jobs:write',
    input: z.object({ id: TaskId }).strict(),
    readOnly: false,
    destructive: true,
  },
  board_list: {
    title: 'List board posts',
    description: 'Posts on the bulletin board, newest first, filtered by status, tag or author; page with `cursor` (the last post id seen).',
    scope: 'board:read',
    input: PostQuery,
    readOnly: true,
  },
  board_read: {
    title: 'Read a board post',
    description: 'One post with its replies.',
    scope: 'board:read',
    input: z.object({ id: PostId }).strict(),
    readOnly: true,
  },
  board_post: {
    title: 'Post on the board',
    description: 'Post on the bulletin board; agents and people read it, and `audience` narrows who (e.g. "agents" or "agent:baker").',
    scope: 'board:write',
    input: NewPost,
    readOnly: false,
  },
  world_look: {
    title: 'Look at the village',
    description: 'The village now: map size, landmarks and every villager with its position, activity and status.',
    scope: 'world:read',
    input: none,
    readOnly: true,
  },
  world_perceive: {
    title: 'What a villager perceives',
    description: "What one villager perceives now: itself, the landmark it stands in, who is near, and what it heard after tick `heardSince`. Reading it takes nothing from the agent's own perception.",
    scope: 'world:read',
    input: WorldSightQuery.extend({ name: AgentName }),
    readOnly: true,
  },
  context_search: {
    title: 'Search the flock context',
    description: 'Hybrid (keyword + vector) search over ingested documents, notes and code. Returns hits with source, score and snippet.',
    scope: 'context:read',
    input: SearchQuery,
    readOnly: true,
  },
  context_pack: {
    title: 'Context pack for a task',
    description: "The best context for a flock task (its input is the query) that fits a token budget, deduplicated, with each item's provenance.",
    scope: 'context:read',
    input: ContextPackQuery.extend({ jobId: TaskId }),
    readOnly: true,
  },
  context_collections: {
    title: 'List collections',
    description: 'Collections with their embedding model, dimension and the agents they are shared with.',
    scope: 'context:read',
    input: none,
    readOnly: true,
  },
  memory_recall: {
    title: "Recall an agent's memories",
    description: "An agent's memories most worth recalling for a query, scored by recency, importance and relevance; looking does not refresh them.",
    scope: 'context:read',
    input: MemoryRecallInput.extend({ agent: AgentName }),
    readOnly: true,
  },
} as const satisfies Record<string, McpToolSpec>;

export type McpToolName = keyof typeof MCP_TOOLS;
export const MCP_TOOL_NAMES = Object.keys(MCP_TOOLS) as McpToolName[];

export function isMcpToolName(name: string): name is McpToolName {
  return Object.hasOwn(MCP_TOOLS, name);
}

/** A tool as MCP `tools/list` describes it (the specification's `Tool`), its input schema from the zod schema. */
export interface McpToolDescriptor {
  name: McpToolName;
  title: string;
  description: string;
  inputSchema: { type: 'object'; [key: string]: unknown };
  annotations: { title: string; readOnlyHint: boolean; destructiveHint: boolean; openWorldHint: boolean };
}

/** The catalogue as `tools/list` answers it. The description ends with the scope, so a person setting up a token can read what it needs. */
export function mcpToolDescriptors(): McpToolDescriptor[] {
  return MCP_TOOL_NAMES.map((name) => {
    const spec: McpToolSpec = MCP_TOOLS[name];
    const { $schema: _drop, ...schema } = z.toJSONSchema(spec.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    return {
      name,
      title: spec.title,
      description: `${spec.description} Needs scope ${spec.scope}.`,
      inputSchema: { ...schema, type: 'object' },
      annotations: { title: spec.title, readOnlyHint: spec.readOnly, destructiveHint: spec.destructive ?? false, openWorldHint: false },
    };
  });
}

/**
 * The body of `POST /v1/mcp`: a JSON-RPC 2.0 message (request, notification or response) of
 * the MCP streamable HTTP transport, which checks the rest.
 */
export const McpMessage = z.looseObject({ jsonrpc: z.literal('2.0'), method: z.string().optional(), id: z.union([z.string(), z.number()]).optional() });
export type McpMessage = z.infer<typeof McpMessage>;
