import type { RouteScope } from '@aiflock/core';
import type { ZodType } from 'zod';

/**
 * What the OpenAPI document says about a route, pointing at the very zod schemas its handler
 * validates with, so the document cannot drift from what the API accepts.
 */
export interface RouteDoc {
  summary: string;
  body?: ZodType;
  query?: ZodType;
  params?: ZodType;
  /** The success body; omitted for streams and empty replies. */
  response?: ZodType;
  /** Success status, 200 unless said. */
  status?: number;
  /** Headers the route reads, by name. */
  headers?: Record<string, string>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    doc?: RouteDoc;
  }
}

/** Route options for a route needing `scope`, documented by `doc`. */
export const route = (scope: RouteScope, doc: RouteDoc, extra: { bodyLimit?: number; ticket?: boolean } = {}) => ({
  config: { scope, doc, ...(extra.ticket ? { ticket: true } : {}) },
  ...(extra.bodyLimit ? { bodyLimit: extra.bodyLimit } : {}),
});
