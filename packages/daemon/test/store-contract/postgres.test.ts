import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../../testkit/postgres.js';
import { postgresBackend } from '../../src/adapters/store-sql/postgres.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { runContracts } from './run-contracts.js';

/**
 * Every storage contract on PostgreSQL: a throwaway cluster for this file, a fresh database
 * per test, dropped afterwards.
 */
let pg: TestPostgres;
let db: { name: string; url: string };

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
});
beforeEach(async () => {
  db = await pg.createDatabase('contract');
});
// Registered before the runner's own afterEach, so it runs after the stores are closed.
afterEach(async () => {
  await pg.dropDatabase(db.name);
});
runContracts('postgres', async () => SqlStore.open(await postgresBackend({ url: db.url, poolSize: 10, connectTimeoutMs: 5_000 })));
