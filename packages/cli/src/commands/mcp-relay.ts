import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, CallToolResultSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { progress } from '../output.js';

/**
 * The flock's MCP tools on stdio, for clients that launch their servers as processes (Claude
 * Desktop, editors). It relays to the daemon's streamable HTTP endpoint `/v1/mcp` with this
 * CLI's token, so both transports serve the one tool catalogue with the same scope checks,
 * and progress and cancellation pass through both ways.
 */
export async function serveMcp(client: () => ApiClient, version: string): Promise<void> {
  const api = client();
  const upstream = new Client({ name: 'aiflock-cli', version });
  try {
    await upstream.connect(new StreamableHTTPClientTransport(new URL('/v1/mcp', api.baseUrl), { requestInit: { headers: api.authorization() } }));
  } catch (err) {
    const status = err instanceof StreamableHTTPError ? err.code : undefined;
    const refused = status === 401 || status === 403;
    const why = refused ? 'the token needs the "mcp" scope (and each tool the scope its description names)' : 'is the daemon running? aiflock up';
    throw new CliError(`cannot open an MCP session at ${api.baseUrl}/v1/mcp (${err instanceof Error ? err.message : String(err)}); ${why}`, refused ? EXIT.auth : EXIT.unreachable);
  }

  const server = new Server({ name: 'aiflock', version }, { capabilities: { tools: { listChanged: false } }, ...(upstream.getInstructions() ? { instructions: upstream.getInstructions() } : {}) });
  server.setRequestHandler(ListToolsRequestSchema, (req) => upstream.listTools(req.params));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const token = extra._meta?.progressToken;
    return upstream.callTool(req.params, CallToolResultSchema, {
      signal: extra.signal,
      // Progress keeps the relayed call alive (a long task would otherwise hit the request
      // timeout) and reaches the stdio client when it asked for it.
      resetTimeoutOnProgress: true,
      onprogress: (p) => {
        if (token !== undefined) void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } });
      },
    });
  });

  await server.connect(new StdioServerTransport());
  progress(`aiflock MCP server on stdio, relaying to ${api.baseUrl}/v1/mcp`);
  // Serve until the client closes stdin, then end the daemon-side session.
  await new Promise<void>((resolve) => process.stdin.once('close', resolve).once('end', resolve));
  await upstream.close();
}
