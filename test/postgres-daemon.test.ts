import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import type { SystemStatus } from '@aiflock/protocol';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { startPostgres, type TestPostgres } from '../testkit/postgres.js';

/**
 * The real daemon, started by the real CLI, on PostgreSQL: its state and audit log live in
 * the database, `/readyz` follows the database, and tampering is caught end to end.
 */
let postgres: TestPostgres;
let url: string;
let flock: TestFlock;

const query = async (text: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
};

beforeAll(async () => {
  postgres = await startPostgres();
  url = (await postgres.createDatabase('daemon')).url;
  flock = await testFlock();
  flock.env['AIFLOCK_STORE'] = 'postgres';
  flock.env['AIFLOCK_DATABASE_URL'] = url;
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
});

afterAll(async () => {
  await flock?.cleanup();
  await postgres?.stop();
});

it('keeps its state and audit log in PostgreSQL', async () => {
  const status = await flock.cliJson<SystemStatus>(['status']);
  expect(status.checks['store']).toMatchObject({ ok: true, detail: 'postgres answers' });
  const deploy = await flock.cli(['agent', 'deploy', `${REPO_ROOT}/examples/echo.agent.yaml`]);
  expect(deploy.code, deploy.stderr).toBe(0);
  expect(await query('select name from deployments')).toEqual([{ name: 'echo' }]);
  const audit = await query(`select action, resource, outcome from audit_log order by seq`);
  expect(audit).toEqual([{ action: 'agent.deploy', resource: 'agent/echo', outcome: 'ok' }]);
  expect((await flock.cli(['audit', 'verify'])).code).toBe(0);
});

it('is not ready while PostgreSQL is down, and ready again when it is back', async () => {
  expect((await flock.api('/readyz')).status).toBe(200);
  await postgres.halt();
  try {
    const down = await flock.api('/readyz');
    expect(down.status).toBe(503);
    expect(down.body.checks.store.ok).toBe(false);
  } finally {
    await postgres.start();
  }
  await eventually(async () => (await flock.api('/readyz')).status === 200, 'readyz back to 200');
});

it('catches an entry edited in the database', async () => {
  await flock.cli(['agent', 'scale', 'echo', '2']);
  await query(`update audit_log set actor = 'someone-else' where seq = 1`);
  const v = await flock.cli(['audit', 'verify']);
  expect(v.code).toBe(9);
  expect(v.stderr).toContain('TAMPERED at seq 1 (edited)');
});

it('refuses `aiflock backup` with a pointer to pg_dump', async () => {
  const r = await flock.cli(['backup', `${flock.home}/x.db`]);
  expect(r.code).toBe(6);
  expect(r.stderr).toContain('pg_dump');
});
