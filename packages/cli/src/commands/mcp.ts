import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { CliError, type ApiClient } from '../client.js';
import { progress } from '../output.js';

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };

/** Every tool answers JSON text; a refused call is a tool error with the daemon's message, not a protocol failure. */
async function answer(fn: () => Promise<unknown>): Promise<ToolResult> {
  try {
    return { content: [{ type: 'text', text: JSON.stringify(await fn(), null, 2) }] };
  } catch (err) {
    if (err instanceof CliError) return { content: [{ type: 'text', text: `${err.code ?? 'error'}: ${err.message}` }], isError: true };
    throw err;
  }
}

/**
 * The flock's context as Model Context Protocol tools over stdio, for external MCP-capable
 * agents and editors. It is a client of the daemon's HTTP API like every other command, so
 * it sees exactly what the API allows.
 */
export async function serveMcp(client: () => ApiClient, version: string): Promise<void> {
  const server = new McpServer({ name: 'aiflock-context', version });
  const enc = encodeURIComponent;

  server.registerTool(
    'context_search',
    {
      title: 'Search the flock context',
      description: 'Hybrid (keyword + vector) search over ingested documents, notes and code. Returns hits with source, score and snippet.',
      inputSchema: {
        query: z.string().min(1).max(2000).describe('what to look for'),
        collection: z.string().optional().describe('only this collection'),
        tags: z.array(z.string()).optional().describe('only documents with every one of these tags'),
        topK: z.number().int().min(1).max(100).optional().describe('how many hits (default 10)'),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ query, collection, tags, topK }) =>
      answer(() => {
        const q = new URLSearchParams({ q: query, topK: String(topK ?? 10) });
        if (collection) q.set('collection', collection);
        if (tags?.length) q.set('tags', tags.join(','));
        return client().get(`/v1/context/search?${q}`);
      }),
  );

  server.registerTool(
    'context_pack',
    {
      title: 'Context pack for a job',
      description: "The best context for a flock task (its input is the query) that fits a token budget, deduplicated, with each item's provenance.",
      inputSchema: { jobId: z.string().describe('task id (t_...)'), budget: z.number().int().min(16).max(200_000).optional().describe('token budget (default 2000)') },
      annotations: { readOnlyHint: true },
    },
    async ({ jobId, budget }) => answer(() => client().get(`/v1/context/${enc(jobId)}?budget=${budget ?? 2000}`)),
  );

  server.registerTool(
    'context_collections',
    { title: 'List collections', description: 'Collections with their embedding model, dimension and the agents they are shared with.', inputSchema: {}, annotations: { readOnlyHint: true } },
    async () => answer(() => client().get('/v1/context/collections')),
  );

  server.registerTool(
    'memory_recall',
    {
      title: "Recall an agent's memories",
      description: "An agent's memories most worth recalling for a query, scored by recency, importance and relevance.",
      inputSchema: { agent: z.string().describe('agent (deployment) name'), query: z.string().min(1).max(2000), k: z.number().int().min(1).max(50).optional() },
      annotations: { readOnlyHint: true },
    },
    async ({ agent, query, k }) => answer(() => client().get(`/v1/memory/${enc(agent)}?${new URLSearchParams({ q: query, k: String(k ?? 10) })}`)),
  );

  await server.connect(new StdioServerTransport());
  progress(`aiflock MCP server on stdio, using the daemon at ${client().baseUrl}`);
  // Serve until the client closes stdin.
  await new Promise<void>((resolve) => process.stdin.once('close', resolve).once('end', resolve));
}
