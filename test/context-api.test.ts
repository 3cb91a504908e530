import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextService, HashingEmbedder, MemoryService, newTaskId, systemClock } from '@aiflock/core';
import type { ContextPack, SearchResult } from '@aiflock/protocol';
import type { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';
import { openVectorIndex } from '../packages/daemon/src/adapters/vector-index/open.js';
import { apiFetch } from '../testkit/api-fetch.js';
import { buildTestApp, coreApiServices, listenOnLoopback, recordRoutes, startApiBackends, type ApiBackends, type RouteRecord } from '../testkit/api-app.js';
import { CLI, apiCli, type ApiCli } from '../testkit/cli.js';
import { REPO_ROOT } from '../testkit/flock.js';

/**
 * The context plane end to end without sandboxes: the daemon's real HTTP app over a real
 * SQLite store and NATS, driven by HTTP and by the real built CLI.
 */
const CORPUS = join(REPO_ROOT, 'test', 'fixtures', 'context-corpus', 'docs');

describe('context API and CLI', () => {
  let backends: ApiBackends;
  let store: SqlStore;
  let app: FastifyInstance;
  let url: string;
  let token: string;
  let routes: RouteRecord[];
  let cliRunner: ApiCli;

  beforeAll(async () => {
    backends = await startApiBackends('ctx-api');
    const { dir, bus } = backends;
    store = backends.store;
    const log = () => undefined;
    const embedder = new HashingEmbedder();
    const index = await openVectorIndex('store', store, log);
    const core = coreApiServices(store, bus, dir);
    token = (await core.auth.createToken({ name: 'context-admin', scopes: ['admin'] })).token;
    app = buildTestApp(store, {
      ...core,
      store,
      context: new ContextService({ store: store.context, tasks: store.tasks, embedder, index, clock: systemClock }),
      memory: new MemoryService({ store: store.context, embedder, clock: systemClock }),
      backup: null,
      readiness: async () => ({ store: await store.ping() }),
    });
    routes = recordRoutes(app);
    url = await listenOnLoopback(app);
    cliRunner = apiCli(() => url, { token: () => token, cwd: REPO_ROOT });
  }, 60_000);
  afterAll(async () => {
    cliRunner?.cleanup();
    await app?.close();
    await backends?.close();
  });

  const cli = (args: string[]) => cliRunner.run(args);
  // Loosely typed on purpose (apiFetch's body): the assertions state the shapes they expect.
  const api = (method: string, path: string, body?: unknown) => apiFetch(url, path, { method, body }, token);

  it('every context route states its scope: context:read to read, context:write to change', () => {
    const mine = routes.filter((r) => r.url === '/v1/ingest' || r.url.startsWith('/v1/context') || r.url.startsWith('/v1/memory'));
    expect(mine.length).toBeGreaterThanOrEqual(9);
    for (const r of mine) {
      const methods = [r.method].flat();
      expect(r.scope, `${methods.join(',')} ${r.url}`).toBe(methods.every((m) => m === 'GET' || m === 'HEAD') ? 'context:read' : 'context:write');
    }
  });

  it('ingests a directory with the CLI and finds it with search (CLI and HTTP)', async () => {
    const ing = await cli(['context', 'ingest', CORPUS, '-c', 'corpus', '--tags', 'fixture', '--json']);
    expect(ing.code, ing.stderr).toBe(0);
    const out = JSON.parse(ing.stdout) as { documents: { id: string; status: string }[]; model: string };
    expect(out.model).toBe('hashing-v1-256');
    expect(out.documents).toHaveLength(12);
    expect(out.documents.every((d) => d.status === 'created')).toBe(true);
    const again = JSON.parse((await cli(['context', 'ingest', CORPUS, '-c', 'corpus', '--tags', 'fixture', '--json'])).stdout) as typeof out;
    expect(again.documents.every((d) => d.status === 'unchanged')).toBe(true);

    const s = await cli(['context', 'search', 'kill switch revokes credentials', '-c', 'corpus', '-k', '3', '--json']);
    expect(s.code, s.stderr).toBe(0);
    const res = JSON.parse(s.stdout) as SearchResult;
    expect(res.hits[0]).toMatchObject({ collection: 'corpus', source: 'test/fixtures/context-corpus/docs/nats-auth.md', tags: ['fixture'] });
    expect(res.hits[0]!.snippet).toContain('kill switch');
    const human = await cli(['context', 'search', 'token bucket']);
    expect(human.stdout).toMatch(/^SCORE\s+COLLECTION\s+SOURCE\s+SNIPPET/);
    expect(human.stdout).toContain('ratelimit.py');

    const http = await api('GET', '/v1/context/search?q=double-entry%20ledger&tags=fixture&topK=2');
    expect(http.status).toBe(200);
    expect(http.body!['hits'][0].documentId).toBe('test/fixtures/context-corpus/docs/economy.md');
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/^aiflock_context_chunks\{collection="corpus"\} [1-9]\d*$/m);
    // The ingest is in the audit log.
    const audit = await store.audit.list({ action: 'context.ingest', limit: 10 });
    expect(audit[0]).toMatchObject({ resource: 'collection/corpus', outcome: 'ok' });
  });

  it('bad input gets an error naming what was wrong and changes nothing', async () => {
    const bad = await api('POST', '/v1/ingest', { collection: 'Bad Name', documents: [{ source: 's', text: 't' }] });
    expect(bad.status).toBe(400);
    expect(bad.body!['error'].message).toContain('collection');
    expect(await store.context.collections.get('Bad Name')).toBeUndefined();
    const unknown = await api('POST', '/v1/ingest', { collection: 'x', documents: [{ source: 's', text: 't', vector: [1] }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body!['error'].message).toContain('vector');
    expect(await store.context.collections.get('x')).toBeUndefined();
    const k = await api('GET', '/v1/context/search?q=x&topK=0');
    expect(k.status).toBe(400);
    expect(k.body!['error'].message).toContain('topK');
    expect((await api('GET', '/v1/context/search?q=x&collection=missing')).body!['error'].code).toBe('collection_not_found');
    const cliBad = await cli(['context', 'search', 'x', '-c', 'missing']);
    expect(cliBad.code).toBe(3);
    expect(cliBad.stderr).toContain('no context collection named "missing"');
  });

  it('builds a context pack for a job within the budget, with provenance', async () => {
    const id = newTaskId(new Date());
    const now = new Date().toISOString();
    await store.tasks.insert({ id, agent: 'echo', type: 'echo', status: 'queued', input: { ask: 'how do I restore a postgres backup' }, result: null, output: null, error: null, attempt: 1, maxAttempts: 1, instanceId: null, idempotencyKey: null, requestHash: 'h', createdAt: now, startedAt: null, finishedAt: null, deadline: now, queueSeq: null });
    const res = await api('GET', `/v1/context/${id}?budget=150`);
    expect(res.status).toBe(200);
    const pack = res.body as unknown as ContextPack;
    expect(pack.used).toBeLessThanOrEqual(150);
    expect(pack.items[0]!.provenance.documentId).toBe('test/fixtures/context-corpus/docs/backups.md');
    expect(pack.query).toBe('how do I restore a postgres backup');
    expect((await api('GET', `/v1/context/${newTaskId(new Date())}`)).body!['error'].code).toBe('task_not_found');
    expect((await api('GET', `/v1/context/${id}?budget=5`)).status).toBe(400);
    expect((await api('GET', '/v1/context/not-a-job')).status).toBe(400);
  });

  it('exports and imports a collection with the CLI, exactly; a damaged file is refused whole', async () => {
    const file = join(backends.dir, 'corpus.jsonl');
    const exp = await cli(['context', 'export', 'corpus', '-o', file]);
    expect(exp.code, exp.stderr).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'collection', name: 'corpus', model: 'hashing-v1-256', dimension: 256 });
    const imp = await cli(['context', 'import', file, '--as', 'copy', '--json']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(JSON.parse(imp.stdout)).toMatchObject({ collection: 'copy', documents: 12 });
    const copy = (await cli(['context', 'export', 'copy'])).stdout.trim().split('\n');
    expect(copy.slice(1)).toEqual(lines.slice(1).map((l) => l.replaceAll('"collection":"corpus"', '"collection":"copy"')));

    const damaged = join(backends.dir, 'damaged.jsonl');
    writeFileSync(damaged, `${lines.join('\n')}\n{"type":"document","oops":1}\n`);
    const bad = await cli(['context', 'import', damaged, '--as', 'broken']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`import line ${lines.length + 1}`);
    expect(await store.context.collections.get('broken')).toBeUndefined();
    expect((await cli(['context', 'export', 'nope'])).code).toBe(3);
  });

  it('people read an agent memory stream with context:read', async () => {
    const mem = new MemoryService({ store: store.context, embedder: new HashingEmbedder(), clock: systemClock });
    await mem.add('scout', { kind: 'observation', text: 'the bridge is out near the mill' });
    const seenBefore = (await store.context.memories.list('scout'))[0]!.lastAccessedAt;
    await new Promise((r) => setTimeout(r, 5)); // a later timestamp, were the read to touch it
    const res = await api('GET', '/v1/memory/scout?q=bridge');
    expect(res.body!['memories'][0].text).toBe('the bridge is out near the mill');
    // Looking does not refresh the agent's recency.
    expect((await store.context.memories.list('scout'))[0]!.lastAccessedAt).toBe(seenBefore);
    expect((await api('GET', '/v1/memory/Not_An_Agent?q=x')).status).toBe(400);
  });

  it('serves search and memory as MCP tools on stdio, driven by the official SDK client', async () => {
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, '--api', url, 'context', 'mcp'], stderr: 'pipe', env: { ...(process.env as Record<string, string>), AIFLOCK_TOKEN: token } }));
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name).sort();
      // `context mcp` is now an alias of `aiflock mcp`: the flock's whole tool catalogue, context's among it.
      expect(tools).toEqual(expect.arrayContaining(['context_collections', 'context_pack', 'context_search', 'memory_recall', 'agents_list', 'tasks_run']));
      const text = (r: Awaited<ReturnType<typeof client.callTool>>) => (r.content as { type: string; text: string }[])[0]!.text;
      const found = await client.callTool({ name: 'context_search', arguments: { q: 'token bucket refill', collection: 'corpus', topK: 3 } });
      expect(found.isError, text(found)).toBeFalsy();
      expect((JSON.parse(text(found)) as SearchResult).hits[0]!.documentId).toBe('test/fixtures/context-corpus/docs/ratelimit.py');
      const recall = await client.callTool({ name: 'memory_recall', arguments: { agent: 'scout', query: 'bridge' } });
      expect(JSON.parse(text(recall)).memories[0].text).toBe('the bridge is out near the mill');
      const missing = await client.callTool({ name: 'context_search', arguments: { q: 'x', collection: 'missing' } });
      expect(missing.isError).toBe(true);
      expect(text(missing)).toBe('collection_not_found: no context collection named "missing"');
      // Arguments are checked against the tool's schema before anything runs.
      const bad = await client.callTool({ name: 'context_search', arguments: { q: '' } });
      expect(bad.isError).toBe(true);
    } finally {
      await client.close();
    }
  });
});
