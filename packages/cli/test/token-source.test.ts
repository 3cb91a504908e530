import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiToken } from '../src/paths.js';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'aiflock-cli-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('where the CLI finds its token', () => {
  it('--token wins, then $AIFLOCK_TOKEN, then <data dir>/admin.token, else none', () => {
    expect(apiToken(undefined, { AIFLOCK_HOME: home })).toBeUndefined();
    writeFileSync(join(home, 'admin.token'), 'afk_file\n', { mode: 0o600 });
    expect(apiToken(undefined, { AIFLOCK_HOME: home })).toBe('afk_file');
    expect(apiToken(undefined, { AIFLOCK_HOME: home, AIFLOCK_TOKEN: 'afk_env' })).toBe('afk_env');
    expect(apiToken('afk_flag', { AIFLOCK_HOME: home, AIFLOCK_TOKEN: 'afk_env' })).toBe('afk_flag');
  });
});
