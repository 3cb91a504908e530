import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, AuthService, SecretService, parseManifest, systemClock } from '@aiflock/core';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import { SecretBox } from '../../src/adapters/secrets/secret-box.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { buildApp } from '../../src/http/app.js';
import type { ApiContext } from '../../src/http/context.js';
import type { InjectOptions } from 'fastify';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { testHttpOptions } from '../../../../testkit/http-options.js';

const VALUE = 'sk-live-Zm9vYmFyYmF6cXV4-4242';
let dir: string;
let store: SqlStore;
let secrets: SecretService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-secrets-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  secrets = new SecretService({ store, clock: systemClock, cipher: await SecretBox.fromKeyFile(join(dir, 'secrets.key')) });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('secret box', () => {
  it('creates its key once, 0600, and refuses a key others can read', async () => {
    const key = join(dir, 'secrets.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const before = readFileSync(key, 'utf8');
    const again = await SecretBox.fromKeyFile(key);
    expect(readFileSync(key, 'utf8')).toBe(before);
    expect(again.open((await SecretBox.fromKeyFile(key)).seal('x', 'n'), 'n')).toBe('x');
    chmodSync(key, 0o644);
    await expect(SecretBox.fromKeyFile(key)).rejects.toThrow(/readable by others/);
  });

  it('binds the name: a sealed value moved to another name, or altered, does not open', async () => {
    const box = await SecretBox.fromKeyFile(join(dir, 'k2'));
    const sealed = box.seal(VALUE, 'A');
    expect(box.open(sealed, 'A')).toBe(VALUE);
    expect(() => box.open(sealed, 'B')).toThrow(/does not open/);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => box.open(`v1:${raw.toString('base64')}`, 'A')).toThrow(/does not open/);
    const other = await SecretBox.fromKeyFile(join(dir, 'k3'));
    expect(() => other.open(sealed, 'A')).toThrow(/does not open/);
  });
});

describe('secret service over a real SQLite store', () => {
  it('stores the value sealed: the database file never holds it', async () => {
    await secrets.set('GITHUB_TOKEN', VALUE);
    await store.close();
    for (const f of readdirSync(dir)) {
      expect(readFileSync(join(dir, f)).includes(VALUE), f).toBe(false);
    }
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    secrets = new SecretService({ store, clock: systemClock, cipher: await SecretBox.fromKeyFile(join(dir, 'secrets.key')) });
    expect(await secrets.reveal('GITHUB_TOKEN')).toBe(VALUE);
  });

  it('gives files and headers exactly as a manifest asks, and names a missing secret', async () => {
    await secrets.set('tok', VALUE);
    const { manifest } = parseManifest(
      `name: scout
network: { egress: ["api.example.com"] }
secrets:
  - { name: tok, file: true }
  - { name: tok, header: { host: api.example.com, name: Authorization, prefix: "Bearer " } }
`,
      'scout.yaml',
    );
    expect(await secrets.filesFor(manifest)).toEqual({ tok: VALUE });
    expect(await secrets.headersFor(manifest, 'api.example.com')).toEqual({ Authorization: `Bearer ${VALUE}` });
    expect(await secrets.headersFor(manifest, 'evil.example.com')).toEqual({});
    await secrets.remove('tok');
    await expect(secrets.filesFor(manifest)).rejects.toMatchObject({ code: 'secret_not_found', message: expect.stringContaining('aiflock secret set tok') });
  });

  it('refuses bad names and values, changing nothing', async () => {
    await expect(secrets.set('../etc', 'x')).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(secrets.set('ok', '')).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(secrets.set('ok', 'a\0b')).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(secrets.set('ok', 'x'.repeat(64 * 1024 + 1))).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(secrets.remove('nope')).rejects.toMatchObject({ code: 'secret_not_found' });
    expect(await secrets.list()).toEqual([]);
  });
});

describe('secret routes and logs', () => {
  it('set (201, then 200), list names only, remove (204, then 404); values never in responses or logs', async () => {
    let logged = '';
    const sink = new Writable({ write: (c, _e, cb) => ((logged += c.toString()), cb()) });
    const logger = createLogger('trace', sink);
    const auth = new AuthService({ store, clock: systemClock, sessionTtlMs: 3_600_000 });
    const token = (await auth.createToken({ name: 'admin', scopes: ['admin'] })).token;
    const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock: systemClock });
    const ctx = { secrets, store, auth, audit } as unknown as ApiContext;
    const { app: raw } = buildApp(ctx, logger, createMetrics(store), testHttpOptions());
    // Every call as an admin; the secret value must not leak into the audit log either.
    const app = { inject: (o: { method: 'GET' | 'PUT' | 'DELETE'; url: string; payload?: unknown }) => raw.inject({ ...o, headers: { authorization: `Bearer ${token}` } } as InjectOptions), close: () => raw.close() };
    const put = (value: unknown) => app.inject({ method: 'PUT', url: '/v1/secrets/API_KEY', payload: { value } });
    expect((await put(VALUE)).statusCode).toBe(201);
    const again = await put(`${VALUE}-2`);
    expect(again.statusCode).toBe(200);
    expect(again.body).not.toContain(VALUE);
    expect((await put('')).statusCode).toBe(400);
    expect((await app.inject({ method: 'PUT', url: '/v1/secrets/API_KEY', payload: { value: 'x', extra: 1 } })).statusCode).toBe(400);
    expect(await secrets.reveal('API_KEY')).toBe(`${VALUE}-2`);
    const list = await app.inject({ method: 'GET', url: '/v1/secrets' });
    expect(list.json()).toEqual({ secrets: [{ name: 'API_KEY', createdAt: expect.any(String), updatedAt: expect.any(String) }] });
    expect(list.body).not.toContain(VALUE);
    expect((await app.inject({ method: 'GET', url: '/v1/secrets/API_KEY' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/v1/secrets/API_KEY' })).statusCode).toBe(204);
    const gone = await app.inject({ method: 'DELETE', url: '/v1/secrets/API_KEY' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('secret_not_found');
    // Even if someone logs a body or a header set, the value is censored.
    logger.info({ body: { value: VALUE }, headers: { authorization: `Bearer ${VALUE}` } }, 'careless');
    await app.close();
    expect(logged).toContain('careless');
    expect(logged).not.toContain(VALUE);
    const entries = await store.audit.list({ limit: 100 });
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['secret.set', 'secret.remove']));
    expect(JSON.stringify(entries)).not.toContain(VALUE);
  });
});
