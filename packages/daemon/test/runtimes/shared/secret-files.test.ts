import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeSecretFiles, writeSecretFiles } from '../../../src/adapters/runtimes/shared/secret-files.js';

const dirs: string[] = [];
const root = () => {
  const d = mkdtempSync(join(tmpdir(), 'aiflock-sf-'));
  dirs.push(d);
  return join(d, 'secrets');
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// The daemon runs as root (it prepares sandbox storage); so do these tests.
describe.skipIf(process.getuid?.() !== 0)('secret files', () => {
  it('root 0700, instance dir 0500 and files 0400, all owned by the sandbox user; removed with the instance', async () => {
    const r = root();
    const dir = await writeSecretFiles(r, 'scout-abcd1234', { tok: 'v1', 'db.pass': 'v2' });
    expect(statSync(r).mode & 0o777).toBe(0o700);
    expect(statSync(dir).mode & 0o777).toBe(0o500);
    expect(statSync(dir).uid).toBe(1001);
    for (const [name, value] of [['tok', 'v1'], ['db.pass', 'v2']]) {
      const st = statSync(join(dir, name!));
      expect(st.mode & 0o777).toBe(0o400);
      expect([st.uid, st.gid]).toEqual([1001, 1001]);
      expect(readFileSync(join(dir, name!), 'utf8')).toBe(value);
    }
    await removeSecretFiles(r, 'scout-abcd1234');
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses traversal in names and instance ids, and a planted symlink does not redirect a write', async () => {
    const r = root();
    await expect(writeSecretFiles(r, '../x', { a: 'b' })).rejects.toThrow(/not valid/);
    await expect(writeSecretFiles(r, 'scout-abcd1234', { '..': 'b' })).rejects.toThrow(/not valid/);
    await expect(writeSecretFiles(r, 'scout-abcd1234', { 'a/b': 'b' })).rejects.toThrow(/not valid/);
    // A stale tree (with a symlink where a file will go) is replaced, not followed.
    const victim = join(r, '..', 'victim');
    writeFileSync(victim, 'untouched');
    await writeSecretFiles(r, 'scout-abcd1234', { x: '1' });
    await removeSecretFiles(r, 'scout-abcd1234');
    mkdirSync(join(r, 'scout-abcd1234'));
    symlinkSync(victim, join(r, 'scout-abcd1234', 'tok'));
    await writeSecretFiles(r, 'scout-abcd1234', { tok: 'secret' });
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
  });
});
