import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { contract } from './store-contract/tokens.contract.js';

// Runs the token contract on SQLite until the shared storage contract runner (which runs
// every contract on SQLite and PostgreSQL) is merged; then this file can go.
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
contract(() => {
  const dir = mkdtempSync(join(tmpdir(), 'aiflock-contract-'));
  dirs.push(dir);
  return SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
});
