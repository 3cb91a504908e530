import { startPostgres, type TestPostgres } from '../../../testkit/postgres.js';
import { postgresBackend } from '../src/adapters/store-sql/postgres.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';

/**
 * PostgreSQL stores for attack tests that run on both backends: the cluster starts on the
 * first `open` (a file whose SQLite cases run first pays nothing until it needs it), each
 * `open` is a fresh database, and `stop` removes the cluster.
 */
export function lazyPostgresStores(prefix: string): { open(): Promise<SqlStore>; stop(): Promise<void> } {
  let pg: TestPostgres | undefined;
  return {
    async open() {
      pg ??= await startPostgres();
      return SqlStore.open(await postgresBackend({ url: (await pg.createDatabase(prefix)).url, poolSize: 4, connectTimeoutMs: 5_000 }));
    },
    async stop() {
      await pg?.stop();
    },
  };
}
