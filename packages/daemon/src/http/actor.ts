import type { FastifyRequest } from 'fastify';

/** Who made a request, as established by authentication (the auth layer decorates it). */
export interface RequestActor {
  id: string;
  scopes: readonly string[];
}

// The one declaration of the decoration; the auth layer sets it, everything else reads it
// through actorOf.
declare module 'fastify' {
  interface FastifyRequest {
    actor?: RequestActor | undefined;
  }
}

/** The actor id recorded in the audit log: the authenticated token's, or `anonymous`. */
export function actorOf(req: FastifyRequest): string {
  return req.actor?.id ?? 'anonymous';
}
