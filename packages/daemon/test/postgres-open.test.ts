import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../testkit/ports.js';
import { startPostgres, type TestPostgres } from '../../../testkit/postgres.js';
import { postgresBackend, redactUrl } from '../src/adapters/store-sql/postgres.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { loadConfig } from '../src/config.js';

describe('opening a PostgreSQL store', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it('gives up on a server that never answers, naming the URL without its password', async () => {
    const port = await freePort();
    const url = `postgres://flock:s3cret-pw@127.0.0.1:${port}/aiflock`;
    const err = await postgresBackend({ url, poolSize: 2, connectTimeoutMs: 600 }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`127.0.0.1:${port}/aiflock`);
    expect((err as Error).message).toMatch(/after [2-9]\d* attempt/);
    expect((err as Error).message).not.toContain('s3cret-pw');
    expect(redactUrl(url)).toBe(`postgres://flock:***@127.0.0.1:${port}/aiflock`);
  });

  it('does not retry a refused login, and says why', async () => {
    const url = pg.urlFor('postgres').replace(/:[^:@/]+@/, ':wrong-password@');
    const err = await postgresBackend({ url, poolSize: 2, connectTimeoutMs: 30_000 }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(/after 1 attempt\(s\).*password authentication failed/);
    expect((err as Error).message).not.toContain('wrong-password');
  });

  it('waits for a server that comes up late (retries with backoff)', async () => {
    await pg.halt();
    const opening = postgresBackend({ url: pg.adminUrl, poolSize: 2, connectTimeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    await pg.start();
    const store = await SqlStore.open(await opening);
    expect(await store.ping()).toMatchObject({ ok: true });
    await store.close();
  });

  it('reports not-ready while the server is gone and recovers when it is back', async () => {
    const db = await pg.createDatabase('ready');
    const store = await SqlStore.open(await postgresBackend({ url: db.url, poolSize: 2, connectTimeoutMs: 5_000 }));
    expect(await store.ping()).toMatchObject({ ok: true });
    await pg.halt();
    const down = await store.ping();
    expect(down.ok).toBe(false);
    expect(down.detail).toMatch(/^postgres:/);
    await pg.start();
    let back = await store.ping();
    for (let i = 0; i < 50 && !back.ok; i++) back = await new Promise((r) => setTimeout(r, 100)).then(() => store.ping());
    expect(back).toMatchObject({ ok: true });
    await store.close();
  });
});

describe('store configuration', () => {
  it('takes postgres from the environment, with pool size', () => {
    const c = loadConfig({ env: { AIFLOCK_HOME: '/tmp/x', AIFLOCK_STORE: 'postgres', AIFLOCK_DATABASE_URL: 'postgres://u:p@db:5432/aiflock', AIFLOCK_DB_POOL_SIZE: '25' } });
    expect(c.store).toMatchObject({ kind: 'postgres', url: 'postgres://u:p@db:5432/aiflock', poolSize: 25 });
  });

  it('refuses postgres without a URL, a non-postgres URL, and a bad pool size, naming each', () => {
    expect(() => loadConfig({ env: { AIFLOCK_STORE: 'postgres' } })).toThrow(/store\.url: .*AIFLOCK_DATABASE_URL/);
    expect(() => loadConfig({ env: { AIFLOCK_STORE: 'postgres', AIFLOCK_DATABASE_URL: 'mysql://x' } })).toThrow(/store\.url: a postgres:\/\/ URL/);
    expect(() => loadConfig({ env: { AIFLOCK_DB_POOL_SIZE: '0' } })).toThrow(/store\.poolSize/);
    expect(() => loadConfig({ env: { AIFLOCK_STORE: 'mongo' } })).toThrow(/store\.kind/);
  });
});
