import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { contract } from './store-contract/tokens.contract.js';

// Runs the token contract on SQLite until the shared storage contract runner (which runs
// every contract on SQLite and PostgreSQL) is merged; then this file can go.
contract(() => SqlStore.open(sqliteBackend(join(mkdtempSync(join(tmpdir(), 'aiflock-contract-')), 'flock.db'))));
