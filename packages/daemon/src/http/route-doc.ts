import type { RouteScope } from '@aiflock/core';
import type { ErrorCode } from '@aiflock/protocol';
import type { ZodType } from 'zod';

/**
 * What the OpenAPI document says about a route, pointing at the very zod schemas (from
 * `@aiflock/protocol`) its handler validates with, so the document cannot drift from what the
 * API accepts. `test/route-contract.test.ts` refuses a route that leaves a part undeclared.
 */
export interface RouteDoc {
  summary: string;
  /** The JSON body; `null` says the route reads none (a POST that only acts), which is not the same as forgetting it. */
  body?: ZodType | null;
  /** The body's media type, when it is not JSON. */
  consumes?: string;
  query?: ZodType;
  params?: ZodType;
  /** The JSON success body. */
  response?: ZodType;
  /** A success body that is not (only) JSON, by media type: a stream, a file, text. */
  produces?: string;
  /**
   * Success status, 200 unless said; several when the route answers each with the same body
   * (201 created, 200 an update or a retry). The app refuses to let a route answer a 2xx it
   * does not declare (see `status-contract.ts`).
   */
  status?: number | readonly number[];
  /** Headers the route reads, by name. */
  headers?: Record<string, string>;
  /**
   * Codes of the one error table the route may answer besides those every route may
   * (validation, authentication, scope, rate limit, internal).
   */
  errors?: readonly ErrorCode[];
  /** The error body, when the route speaks another API's dialect (Ollama's `{"error": "..."}`). */
  errorBody?: ZodType;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    doc?: RouteDoc;
  }
}

/** The success statuses a route declares, the usual one first. */
export const successStatuses = (doc: RouteDoc | undefined): readonly number[] => (doc?.status === undefined ? [200] : typeof doc.status === 'number' ? [doc.status] : doc.status);

/** Route options for a route needing `scope`, documented by `doc`. */
export const route = (scope: RouteScope, doc: RouteDoc, extra: { bodyLimit?: number; ticket?: boolean } = {}) => ({
  config: { scope, doc, ...(extra.ticket ? { ticket: true } : {}) },
  ...(extra.bodyLimit ? { bodyLimit: extra.bodyLimit } : {}),
});
