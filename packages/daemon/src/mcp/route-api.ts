import type { FastifyInstance } from 'fastify';

/** A refusal or failure of the route a tool called, in the API's error envelope terms. */
export class RouteFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The HTTP API as a tool sees it: a route, called as the MCP caller, answering its JSON body or throwing `RouteFailure`. */
export interface RouteApi {
  call(method: 'GET' | 'POST', url: string, opts?: { query?: Record<string, unknown>; body?: unknown }): Promise<unknown>;
}

/** Who is calling over MCP: the credentials of the HTTP request that carried the tool call. */
export interface McpCaller {
  headers: Record<string, string>;
  remoteAddress: string;
}

const FORWARDED = ['authorization', 'cookie', 'x-csrf-token'] as const;

/** The headers that identify the caller of `headers`, to repeat on each route the tool calls. */
export function callerHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/**
 * Tools call the daemon's own routes in process (Fastify's `inject`), with the caller's own
 * credentials and address: authentication, the route's scope, validation, rate limits, the
 * audit log and the error table all apply exactly as over HTTP, with no second copy of any of
 * them to drift.
 */
export function injectedApi(app: FastifyInstance, caller: McpCaller): RouteApi {
  return {
    async call(method, url, opts = {}) {
      const res = await app.inject({
        method,
        url: opts.query ? `${url}?${queryString(opts.query)}` : url,
        headers: { ...caller.headers, ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }) },
        remoteAddress: caller.remoteAddress,
        ...(opts.body === undefined ? {} : { payload: JSON.stringify(opts.body) }),
      });
      const body: unknown = res.body === '' ? null : res.json();
      if (res.statusCode < 400) return body;
      const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
      throw new RouteFailure(typeof error?.code === 'string' ? error.code : 'internal', typeof error?.message === 'string' ? error.message : `HTTP ${res.statusCode}`, res.statusCode, error?.details);
    },
  };
}

/** A query string from tool arguments: arrays repeat their key, unset values are left out. */
export function queryString(query: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(key, String(v));
  }
  return q.toString();
}
