import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { RegisteredRoute } from '../src/http/auth.js';
import Fastify from 'fastify';
import { openApiPath } from '../src/http/openapi.js';
import { route } from '../src/http/route-doc.js';
import { enforceDeclaredStatuses } from '../src/http/status-contract.js';
import { startApi, type ApiHarness } from './http-harness.js';

let api: ApiHarness;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the document is checked field by field below
let doc: any;
beforeAll(async () => {
  api = await startApi();
  const res = await api.fetch('/v1/openapi.json', { token: null });
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(async () => api.close());

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('GET /v1/openapi.json', () => {
  it('lists every registered route with the scope the route enforces', () => {
    for (const r of api.routes) {
      if (r.url === '*') continue;
      const op = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${r.url}`).toBeDefined();
      expect(op['x-aiflock-scope']).toBe(r.scope);
      if (r.scope === 'public') expect(op.security).toEqual([]);
      else expect(op.security).toContainEqual({ bearer: [r.scope] });
    }
    const documented = Object.values(doc.paths).reduce((n: number, item) => n + Object.keys(item as object).length, 0);
    expect(documented).toBe(api.routes.filter((r) => r.url !== '*').length);
  });

  it('describes bodies with the same zod schemas the routes validate with', () => {
    const create = doc.paths['/v1/jobs'].post;
    const schema = create.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(expect.arrayContaining(['agent']));
    expect(schema.properties.agent.pattern).toBeTruthy();
    expect(schema.additionalProperties).toBe(false);
    expect(create.parameters.map((p: { name: string }) => p.name)).toContain('idempotency-key');
    expect(create.responses['202'].content['application/json'].schema.properties.jobId).toBeDefined();
    const list = doc.paths['/v1/jobs'].get;
    expect(list.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['agent', 'status', 'limit', 'cursor']),
    );
  });

  it('is a structurally valid OpenAPI 3.1 document', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    const schemes = Object.keys(doc.components.securitySchemes);
    for (const s of Object.values(doc.components.securitySchemes) as { type: string; in?: string; scheme?: string }[]) {
      expect(['http', 'apiKey', 'oauth2', 'openIdConnect', 'mutualTLS']).toContain(s.type);
      if (s.type === 'apiKey') expect(['query', 'header', 'cookie']).toContain(s.in);
      if (s.type === 'http') expect(s.scheme).toBeTruthy();
    }
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths) as [string, Record<string, any>][]) { // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(path.startsWith('/'), path).toBe(true);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        expect(METHODS, `${path} ${method}`).toContain(method);
        expect(operationIds.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
        operationIds.add(op.operationId);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const [code, res] of Object.entries(op.responses) as [string, { description?: string }][]) {
          expect(code).toMatch(/^[1-5]\d\d$|^default$/);
          expect(typeof res.description).toBe('string');
        }
        const seen = new Set<string>();
        for (const p of op.parameters) {
          expect(['path', 'query', 'header', 'cookie']).toContain(p.in);
          expect(seen.has(`${p.in}:${p.name}`), `${path} repeats ${p.name}`).toBe(false);
          seen.add(`${p.in}:${p.name}`);
          if (p.in === 'path') {
            expect(p.required).toBe(true);
            expect(templated).toContain(p.name);
          }
        }
        for (const name of templated) expect(op.parameters.some((p: { in: string; name: string }) => p.in === 'path' && p.name === name), `${path} declares ${name}`).toBe(true);
        for (const req of op.security) for (const scheme of Object.keys(req)) expect(schemes).toContain(scheme);
        // Every $ref points at something that exists.
        for (const ref of JSON.stringify(op).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) expect(doc.components.schemas[ref[1]!]).toBeDefined();
      }
    }
  });
});

/**
 * The lint for routes: every registered route declares its whole contract through
 * `route(scope, doc)` with schemas (from @aiflock/protocol), so neither the OpenAPI document
 * nor a client generated from it has a hole. Walking the registered routes catches routes
 * however they were declared (a bare `config: { scope }` included).
 */
function contractGaps(r: RegisteredRoute): string[] {
  const doc = r.doc;
  if (!doc) return ['no doc: declare it with route(scope, { summary, ... })'];
  const gaps: string[] = [];
  if (!doc.summary) gaps.push('no summary');
  if (['POST', 'PUT', 'PATCH'].includes(r.method) && doc.body === undefined) gaps.push('no body schema (body: null if it reads none)');
  // `::` is Fastify's escape for a literal colon (`/tasks::batch`), not a parameter.
  if (/(^|[^:]):[A-Za-z]/.test(r.url) && !doc.params) gaps.push('path parameters without a params schema');
  if (!r.websocket && !(doc.status === 204 || (Array.isArray(doc.status) && doc.status.includes(204))) && !doc.response && !doc.produces) gaps.push('no response schema (or produces: <media type> for a stream or file)');
  return gaps;
}

describe('route contract', () => {
  it('every route declares its body, params and response', () => {
    const gaps = api.routes.filter((r) => r.url !== '*').flatMap((r) => contractGaps(r).map((g) => `${r.method} ${r.url}: ${g}`));
    expect(gaps).toEqual([]);
  });

  it('refuses a route declared with a bare scope, or without its schemas', () => {
    const bare: RegisteredRoute = { method: 'POST', url: '/v1/things/:id', scope: 'admin', websocket: false, doc: undefined };
    expect(contractGaps(bare)).toEqual(['no doc: declare it with route(scope, { summary, ... })']);
    expect(contractGaps({ ...bare, doc: { summary: 'x' } })).toHaveLength(3);
    expect(contractGaps({ ...bare, doc: { summary: 'x', body: null, params: z.object({ id: z.string() }), status: 204 } })).toEqual([]);
  });

  it('declares every success status a route answers, and a route answering another fails under the strict check', async () => {
    // 201 when created, 200 on an update or a retry: both documented, with the same body.
    for (const [path, method] of [['/v1/secrets/{name}', 'put'], ['/v1/tasks', 'post'], ['/v1/agents', 'post']] as const) {
      const responses = doc.paths[path][method].responses;
      expect(Object.keys(responses).filter((s) => s.startsWith('2')).sort(), `${method} ${path}`).toEqual(['200', '201']);
      expect(responses['200'].content).toEqual(responses['201'].content);
    }
    const app = Fastify({ logger: false });
    enforceDeclaredStatuses(app, true);
    app.put('/things/:id', route('admin', { summary: 'documents 201 only', body: null, response: z.object({ ok: z.boolean() }), status: 201 }), async (_req, reply) => reply.status(200).send({ ok: true }));
    app.post('/things', route('admin', { summary: 'documents both', body: null, response: z.object({ ok: z.boolean() }), status: [201, 200] }), async (_req, reply) => reply.status(200).send({ ok: true }));
    const drift = await app.inject({ method: 'PUT', url: '/things/1' });
    expect(drift.statusCode).toBe(500);
    expect((await app.inject({ method: 'POST', url: '/things' })).statusCode).toBe(200);
    await app.close();
  });

  it('declares the error responses a route may give, by code from the error table', () => {
    const agent = doc.paths['/v1/agents/{name}'].get;
    expect(agent.responses['404']['x-aiflock-codes']).toContain('agent_not_found');
    expect(agent.responses['401']['x-aiflock-codes']).toEqual(['unauthenticated']);
    const chat = doc.paths['/v1/chat/completions'].post;
    expect(chat.responses['400']['x-aiflock-codes']).toContain('llm_capability_unsupported');
    expect(chat.responses['503']['x-aiflock-codes']).toContain('llm_unavailable');
    expect(doc.paths['/v1/agents/{name}/stop'].post.responses['409']).toBeDefined();
    // Ollama's routes answer errors in Ollama's shape, and say so.
    expect(doc.paths['/api/chat'].post.responses['404'].content['application/json'].schema.properties.error.type).toBe('string');
  });
});
