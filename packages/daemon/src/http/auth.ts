import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
    /** Why authentication or the scope check refused the request, raised by `enforceAuth` (after the rate limit counted it). */
    authRefusal: AuthRefusal | undefined;
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

/** A refused request to a protected route: who (if known), what it needed, and why. */
export interface AuthRefusal {
  error: FlockError;
  scope: RouteScope;
  /** The token behind the attempt, when one was named (a revoked or expired one included). */
  tokenId: string | undefined;
}

/**
 * Authentication and scope checks for every route: records each route as it is registered
 * (the OpenAPI document and the scope walk test read the list) and decides, before anything
 * else runs, whether the caller holds the route's scope; `enforceAuth` refuses. `routes`
 * fills as routes register, after this returns.
 */
export function installAuth(app: FastifyInstance, auth: AuthService, opts: AuthOptions, routes: RegisteredRoute[] = []): RegisteredRoute[] {
  app.decorateRequest('actor', undefined);
  app.decorateRequest('authRefusal', undefined);

  app.addHook('onRoute', (route) => {
    // @fastify/cors registers `OPTIONS *` only so preflights have a route; its own onRequest
    // hook answers them before ours runs (browsers send no credentials on preflight).
    if (route.url === '*' && route.method === 'OPTIONS') route.config = { ...route.config, scope: 'public' };
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, scope: route.config?.scope, websocket: Boolean((route as { websocket?: boolean }).websocket), doc: route.config?.doc });
    }
  });

  // Identifies the caller and decides; a refusal is only noted here, so the rate limit counts
  // refused requests too, per token or per source address, before `enforceAuth` raises and
  // audits it.
  app.addHook('onRequest', async (req) => {
    if (req.is404) return;
    const scope = req.routeOptions.config.scope;
    if (!scope) throw new FlockError('forbidden', `route ${req.method} ${req.routeOptions.url} declares no scope, so it is refused`);
    if (scope === 'public') {
      // Public routes never fail on credentials: a stale cookie must not block signing in again.
      req.actor = await identify(req, auth, opts, false).catch(() => undefined);
      return;
    }
    let actor: Actor | undefined;
    try {
      actor = await identify(req, auth, opts, req.routeOptions.config.ticket === true);
    } catch (err) {
      if (!(err instanceof FlockError)) throw err;
      req.authRefusal = { error: err, scope, tokenId: tokenIdOf(err) };
      return;
    }
    req.actor = actor;
    if (!actor) {
      req.authRefusal = { error: new FlockError('unauthenticated', 'this route needs a bearer token (Authorization: Bearer afk_...) or a session', { scope }), scope, tokenId: undefined };
      return;
    }
    if (!grants(actor.scopes, scope)) {
      const error = new FlockError('forbidden', `token ${actor.id} lacks scope "${scope}" (it has: ${actor.scopes.join(', ') || 'none'})`, { needed: scope, held: actor.scopes });
      req.authRefusal = { error, scope, tokenId: actor.id };
    }
  });
  return routes;
}

/**
 * Raise the refusal `installAuth` noted, once the rate limit has counted the request: each
 * refused request to a protected route is reported to `onDenied` (the audit log) and answered
 * 401/403. Registered after the rate limiter, so a flood of refused requests is cut off by the
 * limit (429, not audited) before it can flood the audit log. Nothing of the route runs
 * before this: only global onRequest hooks (request id, CORS, tracing) and the limiter.
 */
export function enforceAuth(app: FastifyInstance, onDenied: (req: FastifyRequest, refusal: AuthRefusal) => Promise<void>): void {
  const enforce = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const refusal = req.authRefusal;
    if (!refusal) return;
    if (refusal.error.code === 'unauthenticated') void reply.header('www-authenticate', 'Bearer realm="aiflock"');
    await onDenied(req, refusal);
    throw refusal.error;
  };
  // The rate limiter adds its hook per route (preParsing), so this goes per route too, after it.
  app.addHook('onRoute', (route) => {
    const before = route.preParsing === undefined ? [] : [route.preParsing].flat();
    route.preParsing = [...before, enforce];
  });
}

function tokenIdOf(err: FlockError): string | undefined {
  const id = (err.details as { tokenId?: unknown } | undefined)?.tokenId;
  return typeof id === 'string' ? id : undefined;
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
