import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { runContracts } from './run-contracts.js';

/** Every storage contract on SQLite: a fresh database file per test. */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-store-'));
});
// Registered before the runner's own afterEach, so it runs after the stores are closed.
afterEach(() => rmSync(dir, { recursive: true, force: true }));
runContracts('sqlite', () => SqlStore.open(sqliteBackend(join(dir, 'flock.db'))));
