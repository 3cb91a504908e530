import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, newTokenId, newTokenSecret } from '@aiflock/core';
import { startApi, type ApiHarness } from './http-harness.js';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

describe('tokens over HTTP', () => {
  it('creates a token shown once, lists without secrets, and a revoked token stops working', async () => {
    const created = await api.fetch('/v1/tokens', { method: 'POST', body: { name: 'ci bot', scopes: ['jobs:read'] } });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^afk_[A-Za-z0-9_-]{43}$/);
    const listed = await api.fetch('/v1/tokens');
    const row = listed.body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(row).toMatchObject({ name: 'ci bot', scopes: ['jobs:read'], revoked: false });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);

    expect((await api.fetch('/v1/jobs', { token: created.body.token })).status).toBe(200);
    // lastUsedAt records the use.
    const after = (await api.fetch('/v1/tokens')).body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(after.lastUsedAt).not.toBeNull();

    const revoked = await api.fetch(`/v1/tokens/${created.body.id}/revoke`, { method: 'POST', body: {} });
    expect(revoked.body.revoked).toBe(true);
    const refused = await api.fetch('/v1/jobs', { token: created.body.token });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/revoked/);

    // Both changes are in the audit log, by whom and for which token, without the secret.
    const audit = (await api.fetch('/v1/audit?resource=' + encodeURIComponent(`token/${created.body.id}`))).body.entries as Array<{ action: string; outcome: string; actor: string; details: unknown }>;
    expect(audit.map((e) => [e.action, e.outcome]).sort()).toEqual([
      ['token.create', 'ok'],
      ['token.revoke', 'ok'],
    ]);
    expect(audit.find((e) => e.action === 'token.create')!.details).toMatchObject({ name: 'ci bot', scopes: ['jobs:read'] });
    expect(JSON.stringify(audit)).not.toContain(created.body.token);
    expect(JSON.stringify((await api.fetch('/v1/audit/export')).body)).not.toContain(created.body.token);
  });

  it('refuses unknown scopes by name and changes nothing', async () => {
    const before = (await api.fetch('/v1/tokens')).body.tokens.length;
    const bad = await api.fetch('/v1/tokens', { method: 'POST', body: { name: 'x', scopes: ['jobs:read', 'root'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('"root"');
    expect((await api.fetch('/v1/tokens')).body.tokens.length).toBe(before);
    // A refused change is audited too, as an error.
    const failed = (await api.fetch('/v1/audit?action=token.create')).body.entries as Array<{ outcome: string; details: { code?: string } }>;
    expect(failed.some((e) => e.outcome === 'error' && e.details.code === 'validation_failed')).toBe(true);
  });

  it('an expired token is refused', async () => {
    // What a token made 31 days ago with --expires 30d looks like in the store.
    const secret = newTokenSecret();
    await api.store.tokens.insert({
      id: newTokenId(),
      name: 'old',
      hash: hashSecret(secret),
      scopes: ['jobs:read'],
      createdAt: '2001-01-01T00:00:00.000Z',
      lastUsedAt: null,
      expiresAt: '2001-01-31T00:00:00.000Z',
      revoked: false,
    });
    const res = await api.fetch('/v1/jobs', { token: secret });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
    const fresh = await api.fetch('/v1/tokens', { method: 'POST', body: { name: 'month', scopes: ['jobs:read'], expiresInMs: 30 * 86_400_000 } });
    expect(Date.parse(fresh.body.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await api.fetch('/v1/jobs', { token: fresh.body.token })).status).toBe(200);
  });

  it('a malformed Authorization header is refused, not ignored', async () => {
    const res = await api.fetch('/v1/jobs', { token: null, headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/Bearer/);
  });

  it('human may read and queue jobs but not deploy, manage tokens or read metrics', async () => {
    const human = await api.token(['human']);
    expect((await api.fetch('/v1/agents', { token: human })).status).toBe(200);
    expect((await api.fetch('/v1/agents', { method: 'POST', token: human, body: { manifest: 'x' } })).status).toBe(403);
    expect((await api.fetch('/v1/tokens', { token: human })).status).toBe(403);
    expect((await api.fetch('/metrics', { token: human })).status).toBe(403);
    const metrics = await api.fetch('/metrics', { token: await api.token(['metrics:read']) });
    expect(metrics.status).toBe(200);
    // The refusals above are counted.
    expect(metrics.body).toMatch(/aiflock_http_refusals_total\{code="forbidden"\} [1-9]/);
  });
});

describe('runtime log level', () => {
  it('admin changes it without a restart; bad levels are refused by name; others may not', async () => {
    expect((await api.fetch('/v1/system/log-level')).body.level).toBe('silent');
    const set = await api.fetch('/v1/system/log-level', { method: 'PUT', body: { level: 'debug' } });
    expect(set.body).toEqual({ level: 'debug' });
    expect((await api.fetch('/v1/system/log-level')).body.level).toBe('debug');
    const bad = await api.fetch('/v1/system/log-level', { method: 'PUT', body: { level: 'loud' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('level');
    expect((await api.fetch('/v1/system/log-level')).body.level).toBe('debug');
    expect((await api.fetch('/v1/system/log-level', { method: 'PUT', body: { level: 'info' }, token: await api.token(['human']) })).status).toBe(403);
  });
});
