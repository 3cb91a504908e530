import { z, type ZodType } from 'zod';
import { ApiError, ERROR_CODES, type ErrorCode } from '@aiflock/protocol';
import type { RegisteredRoute } from './auth.js';
import { SESSION_COOKIE } from './auth.js';
import { successStatuses } from './route-doc.js';

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

/** What any route may answer, whatever it declares. */
const COMMON: readonly ErrorCode[] = ['validation_failed', 'rate_limited', 'internal'];
const AUTH: readonly ErrorCode[] = ['unauthenticated', 'forbidden'];
const BODY: readonly ErrorCode[] = ['payload_too_large', 'unsupported_media_type'];

/**
 * The route's error responses by status, each naming its codes from the one error table, so a
 * generated client knows a 404 or a 409 can come and what it means.
 */
function errorResponses(codes: readonly ErrorCode[], schema: Json): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].sort(([a], [b]) => a - b).map(([status, list]) => [
      String(status),
      { description: list.map((c) => `\`${c}\`: ${ERROR_CODES[c].summary}`).join('; '), 'x-aiflock-codes': list, content: { 'application/json': { schema } } },
    ]),
  );
}

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
    const success: Json = { description: doc?.summary ?? 'OK' };
    const content: Json = {};
    if (doc?.response) content['application/json'] = { schema: toSchema(doc.response, 'output') };
    if (doc?.produces) content[doc.produces] = { schema: { type: 'string' } };
    if (Object.keys(content).length > 0) success['content'] = content;
    const codes = [...COMMON, ...(scope === 'public' ? [] : AUTH), ...(doc?.body ? BODY : []), ...(doc?.errors ?? [])];
    const successes = Object.fromEntries(successStatuses(doc).map((s) => [String(s), success]));
    const responses: Record<string, Json> = { ...successes, ...errorResponses(codes, doc?.errorBody ? toSchema(doc.errorBody, 'output') : errorRef) };
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
    if (doc?.body) op['requestBody'] = { required: true, content: { [doc.consumes ?? 'application/json']: { schema: toSchema(doc.body, 'input') } } };
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
