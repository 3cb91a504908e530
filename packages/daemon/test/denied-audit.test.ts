import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { lazyPostgresStores } from './pg-store.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * Refused attempts leave an audit trail (finding 4 of the attack review): every 401/403 on a
 * protected route is an `auth.denied` entry with outcome `denied`, naming the actor, route,
 * scope needed and token; refused requests count toward the rate limit (per source address
 * without a token), and a flood of them cannot flood the audit log. On SQLite and PostgreSQL.
 */
const pg = lazyPostgresStores('denied');
afterAll(async () => {
  await pg.stop();
});

const backends: [string, ((dir: string) => Promise<SqlStore>) | undefined][] = [
  ['sqlite', undefined],
  ['postgres', () => pg.open()],
];

describe.each(backends)('denied requests on %s', (_kind, store) => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi({ rateLimit: { max: 40, windowMs: 60_000 }, deniedAuditPerMinute: 30 }, store ? { store } : {});
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const denied = async () => h.store.audit.list({ action: 'auth.denied', limit: 1000 });

  it('22 admin-only calls with a human token leave 22 denied entries, and the chain still verifies', async () => {
    const human = await h.token(['human'], 'mallory');
    const humanId = (await h.auth.authenticateToken(human)).id;
    const admin = h.routes.filter((r) => r.scope === 'admin' && !r.websocket && r.method !== 'HEAD');
    expect(admin.length).toBeGreaterThan(5);
    const calls = Array.from({ length: 22 }, (_, i) => admin[i % admin.length]!);
    for (const r of calls) {
      const path = r.url.replace(/:(\w+)/g, 'x');
      const res = await h.fetch(path, { method: r.method, token: human, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { body: {} }) });
      expect(res.status, `${r.method} ${path}`).toBe(403);
    }
    const entries = await denied();
    expect(entries).toHaveLength(22);
    for (const e of entries) {
      expect(e).toMatchObject({ actor: humanId, outcome: 'denied', details: { code: 'forbidden', scope: 'admin', tokenId: humanId } });
      expect(e.resource).toMatch(/^route:(GET|POST|PUT|DELETE|PATCH) \//);
      // The path names what the refusal aimed at: the route's pattern with its parameters filled.
      const pattern = e.resource.slice(e.resource.indexOf(' ') + 1);
      expect(e.details).toMatchObject({ path: pattern.replace(/:(\w+)/g, 'x') });
    }
    expect(new Set(entries.map((e) => e.resource))).toEqual(new Set(calls.map((r) => `route:${r.method} ${r.url}`)));
    const verdict = (await h.fetch('/v1/audit/verify')).body as { ok: boolean; entries: number };
    expect(verdict.ok).toBe(true);
  });

  it('a revoked token is audited under its own id', async () => {
    const secret = await h.token(['human'], 'gone');
    const id = (await h.auth.authenticateToken(secret)).id;
    await h.auth.revoke(id);
    expect((await h.fetch('/v1/jobs', { token: secret })).status).toBe(401);
    const [latest] = await denied();
    expect(latest).toMatchObject({ actor: id, outcome: 'denied', details: { code: 'unauthenticated', tokenId: id } });
  });
  it('unauthenticated requests are audited as anonymous and count toward the per-address rate limit; past the budget nothing more is written', async () => {
    // The audit's budget is per clock minute: a flood that straddled a minute's end would get
    // two budgets. Start it well inside a minute (60 requests take seconds on a loaded machine).
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const before = (await denied()).length;
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await h.fetch('/v1/tokens', { token: null })).status);
    // The limit (40 a minute from this address) cuts the flood off with 429s.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(40);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
    const anonymous = (await denied()).slice(0, (await denied()).length - before);
    // At most the per-address budget of denied entries, each naming what was needed.
    expect(anonymous.length).toBeGreaterThan(0);
    expect(anonymous.length).toBeLessThanOrEqual(30);
    for (const e of anonymous) expect(e).toMatchObject({ actor: 'anonymous', outcome: 'denied', resource: 'route:GET /v1/tokens', details: { code: 'unauthenticated', scope: 'admin', tokenId: null } });
    expect(((await h.fetch('/v1/audit/verify')).body as { ok: boolean }).ok).toBe(true);
  }, 60_000);
});
