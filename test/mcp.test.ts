import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { MCP_TOOLS, MCP_TOOL_NAMES, type McpToolName, type TaskView } from '@aiflock/protocol';
import { CLI } from '../testkit/cli.js';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The flock as an outside agent sees it over MCP, with stock clients against a real daemon:
 * the official SDK client on streamable HTTP and on stdio (`aiflock mcp`), and the MCP
 * Inspector's CLI. One shell agent that lives in the village serves every tool group.
 */
const AGENT = 'mcpshell';
let flock: TestFlock;
let token: string;
let http: Client;

/** The agent lets the MCP client's token run its tasks (only owners and admins may by default). */
const manifest = (runner: string) => `
name: ${AGENT}
handlers: [shell]
tools: { shell: true }
replicas: 1
village: { policy: rules, every: 5s }
access: { runTasks: [${runner}] }
`;

async function createToken(scopes: string[], name: string): Promise<{ id: string; token: string }> {
  const r = await flock.api('/v1/tokens', { method: 'POST', body: { name, scopes } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: string; token: string };
}
const tokenWith = async (scopes: string[], name: string) => (await createToken(scopes, name)).token;

async function httpClient(bearer: string): Promise<Client> {
  const client = new Client({ name: 'aiflock-mcp-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/v1/mcp', flock.apiUrl), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } }));
  return client;
}

/** The JSON a tool answered, failing with the tool's error text if it refused. */
function json<T>(r: unknown): T {
  const result = r as CallToolResult;
  const text = (result.content[0] as { text: string }).text;
  expect(result.isError, text).toBeFalsy();
  return JSON.parse(text) as T;
}

/**
 * Runs `script` with tasks_run_and_wait over `client`, asking for progress, and checks what a
 * caller relies on: the result, and progress notices naming the task with progress 1, 2, 3...
 * (one when queued, then one per long poll that ended with the task still going).
 */
async function runAndWatch(client: Client, script: string, says: string): Promise<void> {
  const progress: Progress[] = [];
  const t = json<TaskView>(
    await client.callTool({ name: 'tasks_run_and_wait', arguments: { agent: AGENT, type: 'shell', input: script } }, undefined, { onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true }),
  );
  expect(t.status).toBe('completed');
  expect(JSON.stringify(t.output ?? t.result)).toContain(says);
  expect(progress.length).toBeGreaterThanOrEqual(2);
  expect(progress.every((p) => p.message?.startsWith(`task ${t.id} `))).toBe(true);
  expect(progress.map((p) => p.progress)).toEqual(progress.map((_, i) => i + 1));
}

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  const client = await createToken(['mcp', 'agents:read', 'jobs:write', 'board:write', 'world:read', 'context:write'], 'mcp-client');
  token = client.token;
  const deployed = await flock.api('/v1/agents', { method: 'POST', body: { manifest: manifest(client.id), filename: `${AGENT}.agent.yaml` } });
  expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
  await eventually(async () => (await flock.api(`/v1/agents/${AGENT}`)).body.replicas.ready === 1 || undefined, `${AGENT} ready`, 120_000);
  http = await httpClient(token);
}, 400_000);

afterAll(async () => {
  await http?.close();
  await flock?.cleanup();
});

describe('MCP over streamable HTTP (official SDK client)', () => {
  it('lists the whole catalogue, each tool with an object input schema and its scope', async () => {
    const { tools } = await http.listTools();
    expect(tools.map((t) => t.name)).toEqual(MCP_TOOL_NAMES);
    for (const t of tools) {
      expect(t.inputSchema.type, t.name).toBe('object');
      expect(t.description, t.name).toContain(`Needs scope ${MCP_TOOLS[t.name as McpToolName].scope}.`);
    }
    expect(tools.find((t) => t.name === 'tasks_run')!.inputSchema.required).toEqual(['agent', 'input']);
  });

  it('agents: lists and describes the deployed agent', async () => {
    const { agents } = json<{ agents: { name: string }[] }>(await http.callTool({ name: 'agents_list', arguments: {} }));
    expect(agents.map((a) => a.name)).toContain(AGENT);
    const one = json<{ name: string; replicas: { ready: number } }>(await http.callTool({ name: 'agents_get', arguments: { name: AGENT } }));
    expect(one).toMatchObject({ name: AGENT, replicas: { ready: 1 } });
    const missing = (await http.callTool({ name: 'agents_get', arguments: { name: 'nobody-here' } })) as CallToolResult;
    expect(missing.isError).toBe(true);
    expect(missing.structuredContent).toMatchObject({ error: { code: 'agent_not_found' } });
  });

  it('tasks: runs one and reads it back; run-and-wait reports progress until the result', async () => {
    const queued = json<TaskView>(await http.callTool({ name: 'tasks_run', arguments: { agent: AGENT, type: 'shell', input: 'echo queued-by-mcp' } }));
    expect(queued.id).toMatch(/^t_/);
    const done = await eventually(async () => {
      const t = json<TaskView>(await http.callTool({ name: 'tasks_get', arguments: { id: queued.id } }));
      return t.status === 'completed' ? t : null;
    }, 'the queued task to complete');
    expect(JSON.stringify(done.output ?? done.result)).toContain('queued-by-mcp');

    await runAndWatch(http, 'sleep 7; echo waited-for', 'waited-for');
  });

  it('tasks: cancelling run-and-wait cancels the task', async () => {
    const abort = new AbortController();
    let taskId = '';
    const call = http.callTool({ name: 'tasks_run_and_wait', arguments: { agent: AGENT, type: 'shell', input: 'sleep 120' } }, undefined, {
      signal: abort.signal,
      onprogress: (p) => {
        taskId = /task (t_\w+)/.exec(p.message ?? '')![1]!;
        abort.abort('the test gave up');
      },
    });
    await expect(call).rejects.toThrow();
    expect(taskId).toMatch(/^t_/);
    const t = await eventually(async () => {
      const r = (await flock.api(`/v1/tasks/${taskId}`)).body as TaskView;
      return r.status === 'cancelled' ? r : null;
    }, 'the abandoned task to be cancelled', 30_000);
    expect(t.status).toBe('cancelled');
  });

  it('board: posts, lists and reads a post', async () => {
    const post = json<{ id: string; title: string }>(await http.callTool({ name: 'board_post', arguments: { title: 'Who has rye flour?', body: 'Asking over MCP.', tags: ['flour'] } }));
    expect(post.id).toMatch(/^post_/);
    const { posts } = json<{ posts: { id: string }[] }>(await http.callTool({ name: 'board_list', arguments: { tag: 'flour' } }));
    expect(posts.map((p) => p.id)).toEqual([post.id]);
    const read = json<{ id: string; body: string; replies: unknown[] }>(await http.callTool({ name: 'board_read', arguments: { id: post.id } }));
    expect(read).toMatchObject({ id: post.id, body: 'Asking over MCP.', replies: [] });
  });

  it('world: looks at the village and at what the villager perceives', async () => {
    const world = await eventually(async () => {
      const w = json<{ villagers: { name: string }[] }>(await http.callTool({ name: 'world_look', arguments: {} }));
      return w.villagers.some((v) => v.name === AGENT) ? w : null;
    }, `${AGENT} in the village`);
    expect(world.villagers.map((v) => v.name)).toContain(AGENT);
    const sight = json<{ self: { name: string }; landmarks: unknown[]; heard: unknown[] }>(await http.callTool({ name: 'world_perceive', arguments: { name: AGENT } }));
    expect(sight.self.name).toBe(AGENT);
    expect(sight.landmarks.length).toBeGreaterThan(0);
    const stranger = (await http.callTool({ name: 'world_perceive', arguments: { name: 'not-a-villager' } })) as CallToolResult;
    expect(stranger.structuredContent).toMatchObject({ error: { code: 'villager_not_found' } });
  });

  it('context: finds an ingested document, lists its collection and recalls memory', async () => {
    const ingest = await flock.api('/v1/ingest', { method: 'POST', token, body: { collection: 'mcpdocs', documents: [{ source: 'runbook.md', text: 'To rotate the bus credentials run aiflock nats creds and restart the agent.' }] } });
    expect(ingest.status, JSON.stringify(ingest.body)).toBe(200);
    const found = json<{ hits: { source: string }[] }>(await http.callTool({ name: 'context_search', arguments: { q: 'rotate bus credentials', collection: 'mcpdocs' } }));
    expect(found.hits[0]?.source).toBe('runbook.md');
    const { collections } = json<{ collections: { name: string }[] }>(await http.callTool({ name: 'context_collections', arguments: {} }));
    expect(collections.map((c) => c.name)).toContain('mcpdocs');
    const memory = json<{ agent: string; memories: unknown[] }>(await http.callTool({ name: 'memory_recall', arguments: { agent: AGENT, query: 'bread' } }));
    expect(memory.agent).toBe(AGENT);
  });

  it('refuses every tool to a token holding only the mcp scope, naming the scope its route needs', async () => {
    const weak = await httpClient(await tokenWith(['mcp'], 'mcp-only'));
    const valid: Record<McpToolName, Record<string, unknown>> = {
      agents_list: {},
      agents_get: { name: AGENT },
      tasks_run: { agent: AGENT, type: 'shell', input: 'echo never' },
      tasks_run_and_wait: { agent: AGENT, type: 'shell', input: 'echo never' },
      tasks_get: { id: 't_0000000000000000000000' },
      tasks_cancel: { id: 't_0000000000000000000000' },
      board_list: {},
      board_read: { id: 'post_00000000000000000000000' },
      board_post: { title: 'never', body: 'never' },
      world_look: {},
      world_perceive: { name: AGENT },
      context_search: { q: 'anything' },
      context_pack: { jobId: 't_0000000000000000000000' },
      context_collections: {},
      memory_recall: { agent: AGENT, query: 'anything' },
    };
    for (const name of MCP_TOOL_NAMES) {
      const r = (await weak.callTool({ name, arguments: valid[name] })) as CallToolResult;
      expect(r.isError, name).toBe(true);
      expect(r.structuredContent, name).toMatchObject({ error: { code: 'forbidden', details: { needed: MCP_TOOLS[name].scope } } });
    }
    // Nothing ran: no task was queued and nothing was posted.
    expect((await flock.api('/v1/tasks?limit=500')).body.tasks.some((t: TaskView) => JSON.stringify(t.input).includes('never'))).toBe(false);
    await weak.close();
  });
});

describe('MCP on stdio (aiflock mcp, official SDK client)', () => {
  it('serves the same catalogue, relays progress, and refuses bad input with the same error', async () => {
    const env: Record<string, string> = { ...(flock.env as Record<string, string>), AIFLOCK_API: flock.apiUrl, AIFLOCK_TOKEN: token };
    const stdio = new Client({ name: 'aiflock-stdio-test', version: '1.0.0' });
    await stdio.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], env, stderr: 'pipe' }));
    try {
      expect((await stdio.listTools()).tools).toEqual((await http.listTools()).tools);
      await runAndWatch(stdio, 'sleep 7; echo over-stdio', 'over-stdio');
      const bad = (await stdio.callTool({ name: 'board_post', arguments: { title: '', body: 'x' } })) as CallToolResult;
      expect(bad.isError).toBe(true);
      expect(bad.structuredContent).toMatchObject({ error: { code: 'validation_failed', details: { issues: [{ field: 'title' }] } } });
    } finally {
      await stdio.close();
    }
  });

  it('exits with the auth code when the token may not use MCP', async () => {
    const r = await flock.cli(['mcp'], { token: await tokenWith(['agents:read'], 'no-mcp'), timeoutMs: 30_000 });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/"mcp" scope/);
  });
});

describe('MCP Inspector CLI against /v1/mcp', () => {
  it('lists the tools, with portable schemas, and calls one', async () => {
    const run = promisify(execFile);
    const catalog = await mkdtemp(join(tmpdir(), 'aiflock-inspector-'));
    const inspector = (args: string[]) =>
      run(process.execPath, [join(REPO_ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js'), '--cli', `${flock.apiUrl}/v1/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${token}`, ...args], {
        env: { ...process.env, MCP_CATALOG_PATH: join(catalog, 'mcp.json') },
        timeout: 60_000,
      });
    try {
      const list = await inspector(['--method', 'tools/list', '--strict']);
      const tools = (JSON.parse(list.stdout) as { tools: { name: string }[] }).tools;
      expect(tools.map((t) => t.name)).toEqual(MCP_TOOL_NAMES);
      const call = await inspector(['--method', 'tools/call', '--tool-name', 'agents_get', '--tool-arg', `name=${AGENT}`]);
      const result = JSON.parse(call.stdout) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(JSON.parse((result.content[0] as { text: string }).text)).toMatchObject({ name: AGENT });
    } finally {
      await rm(catalog, { recursive: true, force: true });
    }
  });
});
