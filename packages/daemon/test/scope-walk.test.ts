import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, AuthService, ERROR_CODES, grants, systemClock, type RouteScope } from '@aiflock/core';
import { installAuth } from '../src/http/auth.js';
import { toApiError } from '../src/http/errors.js';
import { startApi, type ApiHarness } from './http-harness.js';

// Built while the file is collected, not in beforeAll: the routes it registers are known only
// then, and each becomes a test of its own (below), so no time limit covers the whole walk.
const api: ApiHarness = await startApi();
afterAll(async () => {
  await api.close();
});

/** A concrete URL for a route pattern: valid-looking values for each parameter. */
const concrete = (url: string) =>
  url
    .replace(':id', url.includes('/tokens/') ? 'tok_0123456789abcdef' : 't_0000000000000000000000')
    .replace(':name', 'nobody')
    // Fastify's escape for a literal colon (`/tasks::batch`).
    .replace('::', ':');

describe('scope walk: every registered route', () => {
  it('finds the routes and every one declares a scope', () => {
    expect(api.routes.length).toBeGreaterThan(20);
    const undeclared = api.routes.filter((r) => !r.scope).map((r) => `${r.method} ${r.url}`);
    expect(undeclared).toEqual([]);
    // Sanity: the walk covers routes of every group.
    const urls = api.routes.map((r) => r.url);
    for (const u of ['/healthz', '/v1/agents', '/v1/jobs', '/v1/stream/:id', '/v1/tokens', '/v1/openapi.json']) expect(urls).toContain(u);
  });

  // One test per route: the walk is some 600 requests, which on a loaded machine take minutes
  // in all but a few seconds for any one route.
  for (const r of api.routes.filter((route) => route.url !== '*')) {
    const needed = r.scope as RouteScope;
    const what = needed === 'public' ? 'is public: no token is refused' : `refuses no token (401) and a token lacking ${needed} (403), and admits ${needed}`;
    it(`${r.method} ${r.url} ${what}`, { timeout: 60_000 }, async () => {
      const path = concrete(r.url);
      const call = (token: string | null) => api.fetch(path, { method: r.method, token, ...(['POST', 'PUT', 'PATCH'].includes(r.method) ? { body: {} } : {}) });
      if (needed === 'public') {
        const res = await call(null);
        expect([401, 403], `${r.method} ${r.url} is public`).not.toContain(res.status);
        return;
      }
      const none = await call(null);
      expect(none.status, `${r.method} ${r.url} without a token`).toBe(ERROR_CODES.unauthenticated.status);
      // The HEAD twin Fastify adds for every GET is guarded the same way.
      if (r.method === 'GET') expect((await fetch(`${api.url}${path}`, { method: 'HEAD' })).status, `HEAD ${r.url}`).toBe(401);
      // Ollama's routes speak Ollama's error shape (`{"error": "<message>"}`); every other route ours.
      const ollama = r.url.startsWith('/api/');
      if (ollama) expect(none.body.error, r.url).toMatch(/token|auth/i);
      else expect(none.body.error.code).toBe('unauthenticated');
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(none.headers.get('x-request-id')).toBeTruthy();

      const forged = await call('afk_not-a-real-token-at-all');
      expect(forged.status, `${r.method} ${r.url} with an unknown token`).toBe(401);

      // The strongest token that still lacks the scope: every scope that does not grant it.
      const lacking = ALL_SCOPES.filter((s) => !grants([s], needed));
      const weak = await call(await api.token(lacking, 'lacking'));
      expect(weak.status, `${r.method} ${r.url} with ${lacking.join(',')}`).toBe(ERROR_CODES.forbidden.status);
      if (ollama) expect(weak.body.error, r.url).toContain(needed);
      else {
        expect(weak.body.error.code).toBe('forbidden');
        expect(weak.body.error.details.needed).toBe(needed);
      }

      const right = await call(await api.token([needed], 'exact'));
      expect([401, 403], `${r.method} ${r.url} with exactly ${needed}`).not.toContain(right.status);
    });
  }

  it('refuses a route that declares no scope (fail closed)', async () => {
    const app = Fastify();
    app.setErrorHandler((err, req, reply) => {
      const { status, body } = toApiError(err, req.id);
      void reply.status(status).send(body);
    });
    const routes = installAuth(app, new AuthService({ store: api.store, clock: systemClock, sessionTtlMs: 60_000 }), { devBypassLoopback: true });
    app.get('/forgot-to-say', async () => ({ secret: true }));
    const res = await app.inject({ method: 'GET', url: '/forgot-to-say', headers: { authorization: `Bearer ${api.adminToken}` } });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.message).toMatch(/declares no scope/);
    expect(routes.find((r) => r.url === '/forgot-to-say')?.scope).toBeUndefined();
    await app.close();
  });
});
