import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FlockError, grants, type Actor, type AuthService, type RouteScope } from '@aiflock/core';
import type { RouteDoc } from './route-doc.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs, or `public`. A route without one is refused (fail closed). */
    scope?: RouteScope;
    /** The route also accepts a one-shot `?ticket=` (WebSocket routes: browsers cannot set headers there). */
    ticket?: boolean;
  }
  interface FastifyRequest {
    /** Who is calling, once authenticated; undefined on public routes called without credentials. */
    actor: Actor | undefined;
  }
}

export const SESSION_COOKIE = 'aiflock_session';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RegisteredRoute {
  method: string;
  url: string;
  scope: RouteScope | undefined;
  websocket: boolean;
  doc: RouteDoc | undefined;
}

export interface AuthOptions {
  devBypassLoopback: boolean;
}

/**
 * Authentication and scope enforcement for every route: records each route as it is
 * registered (the OpenAPI document and the scope walk test read the list) and checks, before
 * anything else runs, that the caller holds the route's scope. `routes` fills as routes
 * register, after this returns.
 */
export function installAuth(app: FastifyInstance, auth: AuthService, opts: AuthOptions, routes: RegisteredRoute[] = []): RegisteredRoute[] {
  app.decorateRequest('actor', undefined);

  app.addHook('onRoute', (route) => {
    // @fastify/cors registers `OPTIONS *` only so preflights have a route; its own onRequest
    // hook answers them before ours runs (browsers send no credentials on preflight).
    if (route.url === '*' && route.method === 'OPTIONS') route.config = { ...route.config, scope: 'public' };
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, scope: route.config?.scope, websocket: Boolean((route as { websocket?: boolean }).websocket), doc: route.config?.doc });
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    if (req.is404) return;
    const scope = req.routeOptions.config.scope;
    if (!scope) throw new FlockError('forbidden', `route ${req.method} ${req.routeOptions.url} declares no scope, so it is refused`);
    if (scope === 'public') {
      // Public routes never fail on credentials: a stale cookie must not block signing in again.
      req.actor = await identify(req, auth, opts, false).catch(() => undefined);
      return;
    }
    const actor = await identify(req, auth, opts, req.routeOptions.config.ticket === true);
    req.actor = actor;
    if (!actor) {
      void reply.header('www-authenticate', 'Bearer realm="aiflock"');
      throw new FlockError('unauthenticated', 'this route needs a bearer token (Authorization: Bearer afk_...) or a session', { scope });
    }
    if (!grants(actor.scopes, scope)) {
      throw new FlockError('forbidden', `token ${actor.id} lacks scope "${scope}" (it has: ${actor.scopes.join(', ') || 'none'})`, {
        needed: scope,
        held: actor.scopes,
      });
    }
  });
  return routes;
}

async function identify(req: FastifyRequest, auth: AuthService, opts: AuthOptions, ticketAllowed: boolean): Promise<Actor | undefined> {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new FlockError('unauthenticated', 'the Authorization header must be "Bearer <token>"');
    return auth.authenticateToken(m[1]!);
  }
  const ticket = (req.query as Record<string, unknown> | undefined)?.['ticket'];
  if (ticketAllowed && typeof ticket === 'string') {
    return auth.redeemTicket(ticket, String((req.params as Record<string, unknown>)['id'] ?? ''));
  }
  const cookie = req.cookies?.[SESSION_COOKIE];
  if (cookie) {
    const csrf = SAFE_METHODS.has(req.method) ? null : (req.headers['x-csrf-token'] as string | undefined);
    return auth.authenticateSession(cookie, csrf);
  }
  // Only the socket's own address counts: forwarded headers are trivially forged.
  if (opts.devBypassLoopback && isLoopback(req.socket.remoteAddress)) return { id: 'dev-bypass', scopes: ['admin'] };
  return undefined;
}

function isLoopback(addr: string | undefined): boolean {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';
}
