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
  it('is created once, announced once, never logged, saved 0600, and works as admin', async () => {
    const logged: string[] = [];
    const announced: string[] = [];
    const announce = (token: string, file: string) => void announced.push(`${token} ${file}`);
    const logger = createLogger('info', { write: (l: string) => logged.push(l) } as unknown as NodeJS.WritableStream);
    const auth = new AuthService({ store, clock: systemClock, sessionTtlMs: 60_000 });
    expect(await bootstrapAdminToken(auth, store, dir, logger, announce)).toBe(true);
    const file = adminTokenFile(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^afk_/);
    expect(announced).toEqual([`${token} ${file}`]);
    // The log says a token was made and where it is, never the secret.
    expect(logged.join('')).toContain(file);
    expect(logged.join('')).not.toContain(token);
    expect(logged.join('')).not.toMatch(/afk_/);
    expect(await auth.authenticateToken(token)).toMatchObject({ scopes: ['admin'] });

    // A restart mints nothing new and leaves the file alone.
    expect(await bootstrapAdminToken(auth, store, dir, logger, announce)).toBe(false);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect(await store.tokens.count()).toBe(1);
    expect(announced).toHaveLength(1);
    expect(logged.join('')).not.toContain(token);
  });
});
