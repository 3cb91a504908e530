import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthService, systemClock } from '@aiflock/core';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { adminTokenFile, bootstrapAdminToken } from '../src/auth/bootstrap.js';
import { createLogger } from '../src/logger.js';

let dir: string;
let store: SqlStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-boot-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('first-start admin token', () => {
  it('is created once, logged once, saved 0600, and works as admin', async () => {
    const logged: string[] = [];
    const logger = createLogger('info', { write: (l: string) => logged.push(l) } as unknown as NodeJS.WritableStream);
    const auth = new AuthService({ store, clock: systemClock, sessionTtlMs: 60_000 });
    expect(await bootstrapAdminToken(auth, store, dir, logger)).toBe(true);
    const file = adminTokenFile(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^afk_/);
    expect(logged.join('').split(token).length - 1).toBe(1);
    expect(await auth.authenticateToken(token)).toMatchObject({ scopes: ['admin'] });

    // A restart mints nothing new and leaves the file alone.
    expect(await bootstrapAdminToken(auth, store, dir, logger)).toBe(false);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect(await store.tokens.count()).toBe(1);
    expect(logged.join('').split(token).length - 1).toBe(1);
  });
});
