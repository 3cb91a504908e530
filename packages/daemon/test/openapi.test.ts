import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiPath } from '../src/http/openapi.js';
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
