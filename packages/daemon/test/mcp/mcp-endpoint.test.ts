import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MCP_TOOL_NAMES } from '@aiflock/protocol';
import { startApi, type ApiHarness } from '../http-harness.js';

/**
 * The MCP endpoint's own guards, attacked over real HTTP with the official SDK client: the
 * `mcp` scope, sessions bound to the token that opened them, browser origins, and tool calls
 * judged by the scope of the route each one calls.
 */
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
}, 60_000);
afterAll(async () => {
  await api?.close();
});

async function connect(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL('/v1/mcp', api.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'mcp-endpoint-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

const initialize = (headers: Record<string, string>) =>
  fetch(`${api.url}/v1/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });

describe('MCP endpoint guards', () => {
  it('refuses a request without a token (401) and a token without the mcp scope (403)', async () => {
    const none = await initialize({});
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    const noMcp = await initialize({ authorization: `Bearer ${await api.token(['agents:read', 'jobs:write'], 'no-mcp')}` });
    expect(noMcp.status).toBe(403);
    const body = (await noMcp.json()) as { error: { code: string; details: { needed: string } } };
    expect(body.error).toMatchObject({ code: 'forbidden', details: { needed: 'mcp' } });
  });

  it('refuses a browser origin the configuration does not allow, and admits the daemon\'s own', async () => {
    const token = await api.token(['mcp'], 'origin');
    const evil = await initialize({ authorization: `Bearer ${token}`, origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    expect(((await evil.json()) as { error: { code: string } }).error.code).toBe('origin_forbidden');
    const own = await initialize({ authorization: `Bearer ${token}`, origin: api.url });
    expect(own.status).toBe(200);
    expect(own.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("will not let one token use another token's session", async () => {
    const alice = await connect(await api.token(['mcp', 'agents:read'], 'alice'));
    const sessionId = alice.transport.sessionId!;
    expect(sessionId).toBeTruthy();
    const metrics = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${api.adminToken}` } });
    expect(Number(/^aiflock_mcp_sessions (\d+)$/m.exec(await metrics.text())?.[1])).toBeGreaterThanOrEqual(1);
    const mallory = await api.token(['mcp', 'agents:read', 'jobs:write', 'board:write'], 'mallory');
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
    for (const method of ['POST', 'GET', 'DELETE'] as const) {
      const res = await fetch(`${api.url}/v1/mcp`, {
        method,
        headers: { authorization: `Bearer ${mallory}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18', accept: 'application/json, text/event-stream', ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        ...(method === 'POST' ? { body: JSON.stringify(list) } : {}),
      });
      expect(res.status, method).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('mcp_session_not_found');
    }
    // Alice's session is untouched (the DELETE above did not end it).
    expect((await alice.client.listTools()).tools.map((t) => t.name)).toEqual(MCP_TOOL_NAMES);
    await alice.transport.terminateSession();
    await expect(alice.client.listTools()).rejects.toThrow(/404|session/i);
  });

  it('answers each tool with the scope of its route: refused as a tool error naming the scope, admitted with it', async () => {
    const { client } = await connect(await api.token(['mcp', 'board:read'], 'reader'));
    const refused = await client.callTool({ name: 'agents_list', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({ error: { code: 'forbidden', details: { needed: 'agents:read' } } });
    expect((refused.content as { text: string }[])[0]!.text).toMatch(/^forbidden: token \S+ lacks scope "agents:read"/);
    const post = await client.callTool({ name: 'board_post', arguments: { title: 'hello', body: 'from MCP' } });
    expect(post.structuredContent).toMatchObject({ error: { code: 'forbidden', details: { needed: 'board:write' } } });
    const listed = await client.callTool({ name: 'board_list', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(listed.structuredContent).toMatchObject({ posts: [] });
    // The refusal is in the audit log as a refusal of the route, like any HTTP one.
    const audit = await api.fetch('/v1/audit?action=auth.denied&limit=50', { token: api.adminToken });
    const denied = (audit.body.entries as { resource: string; outcome: string; details: { scope: string } }[]).filter((e) => e.resource === 'route:GET /v1/agents');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ outcome: 'denied', details: { scope: 'agents:read' } });
  });

  it('refuses bad arguments with validation_failed naming the field, calling no route', async () => {
    const { client } = await connect(await api.token(['mcp', 'jobs:write'], 'bad-input'));
    const bad = await client.callTool({ name: 'tasks_run', arguments: { agent: 'Not A Name', input: 'x' } });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toMatchObject({ error: { code: 'validation_failed', details: { issues: [{ field: 'agent' }] } } });
    const extra = await client.callTool({ name: 'tasks_get', arguments: { id: 't_0000000000000000000000', sneaky: true } });
    expect(extra.structuredContent).toMatchObject({ error: { code: 'validation_failed' } });
    const tasks = await api.fetch('/v1/tasks', { token: api.adminToken });
    expect(tasks.body.tasks).toEqual([]);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/unknown tool/);
  });
});
