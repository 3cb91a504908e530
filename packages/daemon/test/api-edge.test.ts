import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './http-harness.js';

// Shared with every holder of jobs:write, so a person's session may queue jobs on it.
const manifest = `${readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'echo.agent.yaml'), 'utf8')}\naccess: { runTasks: ["*"] }\n`;

describe('browser sessions (cookie + CSRF)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
    expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  });
  afterAll(async () => api.close());

  const signIn = async (token: string) => {
    const res = await fetch(`${api.url}/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    return { res, body: (await res.json()) as { csrfToken: string; actor: { id: string; scopes: string[] } }, cookie: res.headers.get('set-cookie') ?? '' };
  };

  it('signs in with a token: HttpOnly SameSite=Strict cookie, CSRF token in the body', async () => {
    const { res, body, cookie } = await signIn(await api.token(['human']));
    expect(res.status).toBe(201);
    expect(cookie).toMatch(/^aiflock_session=afs_/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(body.csrfToken).toMatch(/^afc_/);
    expect(body.actor.scopes).toEqual(['human']);
  });

  it('a bad token gets no session', async () => {
    const { res, cookie } = await signIn('afk_wrong');
    expect(res.status).toBe(401);
    expect(cookie).toBe('');
  });

  it('reads with the cookie; changes need x-csrf-token, and without it nothing changes', async () => {
    const { body, cookie } = await signIn(await api.token(['human']));
    const jar = cookie.split(';')[0]!;
    expect((await api.fetch('/v1/jobs', { token: null, headers: { cookie: jar } })).status).toBe(200);

    const before = (await api.store.tasks.countByStatus())['queued'] ?? 0;
    const forged = await api.fetch('/v1/jobs', { method: 'POST', token: null, headers: { cookie: jar }, body: { agent: 'echo', input: 'csrf?' } });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('csrf_failed');
    const wrong = await api.fetch('/v1/jobs', { method: 'POST', token: null, headers: { cookie: jar, 'x-csrf-token': 'afc_guess' }, body: { agent: 'echo', input: 'csrf?' } });
    expect(wrong.status).toBe(403);
    expect((await api.store.tasks.countByStatus())['queued'] ?? 0).toBe(before);

    const ok = await api.fetch('/v1/jobs', { method: 'POST', token: null, headers: { cookie: jar, 'x-csrf-token': body.csrfToken }, body: { agent: 'echo', input: 'hello' } });
    expect(ok.status).toBe(202);
    // A human session still cannot deploy.
    const deploy = await api.fetch('/v1/agents', { method: 'POST', token: null, headers: { cookie: jar, 'x-csrf-token': body.csrfToken }, body: { manifest } });
    expect(deploy.status).toBe(403);
  });

  it('signing out or revoking the token ends the session', async () => {
    const human = await api.fetch('/v1/tokens', { method: 'POST', body: { name: 'person', scopes: ['human'] } });
    const a = await signIn(human.body.token);
    const b = await signIn(human.body.token);
    const jarA = a.cookie.split(';')[0]!;
    const jarB = b.cookie.split(';')[0]!;
    const out = await fetch(`${api.url}/v1/session`, { method: 'DELETE', headers: { cookie: jarA, 'x-csrf-token': a.body.csrfToken } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/aiflock_session=;/);
    expect((await api.fetch('/v1/jobs', { token: null, headers: { cookie: jarA } })).status).toBe(401);
    expect((await api.fetch('/v1/jobs', { token: null, headers: { cookie: jarB } })).status).toBe(200);
    await api.fetch(`/v1/tokens/${human.body.id}/revoke`, { method: 'POST', body: {} });
    expect((await api.fetch('/v1/jobs', { token: null, headers: { cookie: jarB } })).status).toBe(401);
    // A stale cookie does not stand in the way of signing in again.
    const again = await fetch(`${api.url}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: jarB },
      body: JSON.stringify({ token: await api.token(['human']) }),
    });
    expect(again.status).toBe(201);
  });
});

describe('dev bypass for loopback', () => {
  it('is off by default', async () => {
    const api = await startApi();
    try {
      expect((await api.fetch('/v1/agents', { token: null })).status).toBe(401);
    } finally {
      await api.close();
    }
  });

  it('when configured, admits credential-less loopback callers as admin, but still checks a given token', async () => {
    const api = await startApi({ devBypassLoopback: true });
    try {
      expect((await api.fetch('/v1/tokens', { token: null })).status).toBe(200);
      expect((await api.fetch('/v1/tokens', { token: 'afk_bad' })).status).toBe(401);
      expect((await api.fetch('/v1/tokens', { token: await api.token(['jobs:read']) })).status).toBe(403);
    } finally {
      await api.close();
    }
  });
});

// An address of this host that is not loopback; traffic to it never leaves the host.
const hostAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('attacks on the loopback bypass', () => {
  it.skipIf(!hostAddress)('a forged X-Forwarded-For from a non-loopback address gets no bypass', async () => {
    const api = await startApi({ devBypassLoopback: true }, { host: '0.0.0.0' });
    try {
      const port = new URL(api.url).port;
      const viaLoopback = await fetch(`http://127.0.0.1:${port}/v1/tokens`);
      expect(viaLoopback.status).toBe(200);
      for (const spoof of [{}, { 'x-forwarded-for': '127.0.0.1' }, { 'x-real-ip': '127.0.0.1', forwarded: 'for=127.0.0.1' }] as Record<string, string>[]) {
        const res = await fetch(`http://${hostAddress}:${port}/v1/tokens`, { headers: spoof });
        expect(res.status, JSON.stringify(spoof)).toBe(401);
      }
    } finally {
      await api.close();
    }
  });

  it('a stream ticket is no credential anywhere but the stream it was issued for', async () => {
    const api = await startApi();
    try {
      expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
      const { jobId } = (await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'echo', input: 1 } })).body as { jobId: string };
      const { ticket } = (await api.fetch('/v1/stream/tickets', { method: 'POST', body: { jobId } })).body as { ticket: string };
      const misuse = await api.fetch(`/v1/jobs/${jobId}?ticket=${encodeURIComponent(ticket)}`, { token: null });
      expect(misuse.status).toBe(401);
      const asBearer = await api.fetch(`/v1/jobs/${jobId}`, { token: ticket });
      expect(asBearer.status).toBe(401);
    } finally {
      await api.close();
    }
  });
});

describe('CORS, body limits, rate limits, request ids', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi({ rateLimit: { max: 5, windowMs: 60_000 } });
  });
  afterAll(async () => api.close());

  const preflight = (origin: string) =>
    fetch(`${api.url}/v1/jobs`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });

  it('allows the configured dev origin and the daemon itself, nobody else', async () => {
    const dev = await preflight('http://localhost:3000');
    expect(dev.status).toBeLessThan(300);
    expect(dev.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(dev.headers.get('access-control-allow-headers')).toContain('authorization');
    const self = await preflight(api.url);
    expect(self.headers.get('access-control-allow-origin')).toBe(api.url);
    const evil = await preflight('http://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const evilGet = await fetch(`${api.url}/healthz`, { headers: { origin: 'http://evil.example' } });
    expect(evilGet.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a wildcard is honoured only when configured, and then without credentials', async () => {
    const open = await startApi({ corsOrigins: ['*'] });
    try {
      const res = await fetch(`${open.url}/healthz`, { headers: { origin: 'http://anything.example' } });
      expect(res.headers.get('access-control-allow-origin')).toBe('http://anything.example');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    } finally {
      await open.close();
    }
  });

  it('refuses a body over the limit with 413, but lets deploy and job creation carry larger ones', async () => {
    const big = 'x'.repeat(300 * 1024);
    const small = await api.fetch('/v1/tokens', { method: 'POST', body: { name: 'big', scopes: ['jobs:read'], pad: big } });
    expect(small.status).toBe(413);
    expect(small.body.error.code).toBe('payload_too_large');
    const job = await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'nobody', input: big } });
    expect(job.status).toBe(404); // read and validated: the agent does not exist
    const huge = await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'nobody', input: 'x'.repeat(5 * 1024 * 1024) } });
    expect(huge.status).toBe(413);
  });

  it('quotes at most ~200 characters of a huge bad manifest value back, in the message and the details', async () => {
    const value = 'y'.repeat(900 * 1024);
    const many = Array.from({ length: 200 }, () => value.slice(0, 5000));
    // A token of its own: this describe's rate limit is small.
    const token = await api.token(['admin'], 'deployer');
    for (const manifest of [`name: ${value}\n`, `name: ok\ndescription: ${value}\n`, `name: ok\nhandlers: ${JSON.stringify(many)}\n`]) {
      const r = await api.fetch('/v1/agents', { method: 'POST', body: { manifest }, token });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('manifest_invalid');
      const text = JSON.stringify(r.body);
      expect(text.length).toBeLessThan(20_000);
      expect(text).not.toMatch(/y{241}/);
      expect(text).toMatch(/y{200}… \(\d+ characters\)/);
    }
  });

  it('limits each token separately with 429 and Retry-After', async () => {
    const a = await api.token(['jobs:read'], 'a');
    const b = await api.token(['jobs:read'], 'b');
    for (let i = 0; i < 5; i++) expect((await api.fetch('/v1/jobs', { token: a })).status).toBe(200);
    const limited = await api.fetch('/v1/jobs', { token: a });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.error.details.max).toBe(5);
    expect((await api.fetch('/v1/jobs', { token: b })).status).toBe(200);
  });

  it('every answer carries x-request-id, and a sane given one is echoed', async () => {
    for (const res of [await fetch(`${api.url}/nowhere`), await fetch(`${api.url}/v1/jobs`), await fetch(`${api.url}/healthz`)]) {
      expect(res.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._-]+$/);
    }
    const given = await fetch(`${api.url}/v1/jobs`, { headers: { 'x-request-id': 'trace-123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    expect(((await given.json()) as { error: { requestId: string } }).error.requestId).toBe('trace-123');
  });
});
