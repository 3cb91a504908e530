import { z, type ZodType } from 'zod';
import { ApiError } from '@aiflock/protocol';
import type { RegisteredRoute } from './auth.js';
import { SESSION_COOKIE } from './auth.js';

type Json = Record<string, unknown>;

const toSchema = (s: ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
};

/** `/v1/jobs/:id` → `/v1/jobs/{id}`; `::` (Fastify's escaped colon, `/v1/tasks::batch`) is a plain `:`. */
export const openApiPath = (url: string) => url.replace(/(::)|:([A-Za-z0-9_]+)/g, (_m, colon: string | undefined, name: string | undefined) => (colon ? ':' : `{${name}}`));

function parameters(schema: ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const js = toSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
  }));
}

const ERRORS: Record<string, string> = {
  '400': 'Validation failed',
  '401': 'No valid token or session',
  '403': 'The credentials lack the scope',
  '429': 'Rate limited (see Retry-After)',
};

/**
 * The OpenAPI 3.1 document of every registered route, built from the routes' own zod schemas
 * and scopes. Routes without a doc still appear (with their scope), so none is ever missing.
 */
export function buildOpenApi(routes: readonly RegisteredRoute[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const errorRef = { $ref: '#/components/schemas/ApiError' };
  for (const r of routes) {
    if (r.url === '*') continue; // the CORS preflight catch-all is not an operation
    const path = openApiPath(r.url);
    const doc = r.doc;
    const scope = r.scope ?? 'unset';
    const status = String(doc?.status ?? 200);
    const success: Json = { description: doc?.summary ?? 'OK' };
    if (doc?.response) success['content'] = { 'application/json': { schema: toSchema(doc.response, 'output') } };
    const responses: Record<string, Json> = { [status]: success };
    for (const [code, description] of Object.entries(ERRORS)) {
      if (scope === 'public' && (code === '401' || code === '403')) continue;
      responses[code] = { description, content: { 'application/json': { schema: errorRef } } };
    }
    const declared = new Set(parameters(doc?.params, 'path').map((p) => p['name']));
    const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    const params = [
      ...parameters(doc?.params, 'path'),
      // A path parameter the doc does not describe is still a required string.
      ...pathParams.filter((n) => !declared.has(n)).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...parameters(doc?.query, 'query').filter((p) => !(r.websocket && p['name'] === 'ticket')),
      ...Object.entries(doc?.headers ?? {}).map(([name, description]) => ({ name, in: 'header', required: false, description, schema: { type: 'string' } })),
    ];
    const security =
      scope === 'public'
        ? []
        : [{ bearer: [scope] }, { session: [scope] }, ...(r.websocket ? [{ streamTicket: [scope] }] : [])];
    const op: Json = {
      // A wildcard segment is named (`/*` → getAny), so it never collides with its parent path.
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/\*/g, 'any').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: doc?.summary ?? `${r.method} ${path}`,
      'x-aiflock-scope': scope,
      security,
      parameters: params,
      responses,
    };
    if (r.websocket) op['x-websocket'] = true;
    if (doc?.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: toSchema(doc.body, 'input') } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'aiflock control plane API',
      version,
      description: 'Every operation names the scope it needs in `security` and `x-aiflock-scope`; `admin` holds every scope.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { ApiError: toSchema(ApiError, 'output') },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer afk_...' },
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'From POST /v1/session; changes also need x-csrf-token' },
        streamTicket: { type: 'apiKey', in: 'query', name: 'ticket', description: 'From POST /v1/stream/tickets; one use, for WebSocket streams' },
      },
    },
  };
}
