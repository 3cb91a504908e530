import { Migrator, sql, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { SqlBackend } from './dialect.js';
import { migrations } from './migrations/index.js';

export async function migrateToLatest(backend: SqlBackend): Promise<string[]> {
  return migrate(backend, (m) => m.migrateToLatest());
}

/** Up to and including `name` only: for tests of a later migration over data written before it. */
export async function migrateTo(backend: SqlBackend, name: string): Promise<string[]> {
  return migrate(backend, (m) => m.migrateTo(name));
}

async function migrate(backend: SqlBackend, run: (m: Migrator) => Promise<MigrationResultSet>): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(backend) };
  const migrator = new Migrator({ db: backend.db, provider, migrationTableName: 'aiflock_migrations', migrationLockTableName: 'aiflock_migrations_lock' });
  const { error, results } = await run(migrator);
  if (error) throw new Error(`store migration failed: ${String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** A trivial round trip, for readiness. */
export async function pingSql(backend: SqlBackend): Promise<void> {
  await sql`select 1`.execute(backend.db);
}
