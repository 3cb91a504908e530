import type { FastifyRequest } from 'fastify';
// The decoration `request.actor` is declared (and set) by the auth layer.
import type {} from './auth.js';

/** The actor id recorded in the audit log: the authenticated token's, or `anonymous`. */
export function actorOf(req: FastifyRequest): string {
  return req.actor?.id ?? 'anonymous';
}
