import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOOLS, ToolError, type ToolCallContext } from '../../src/index.js';

const files = TOOLS.files!;
let ws: string;
let outside: string;
const ctx = () => ({ workspace: ws, callId: 'c1', emit: () => undefined, signal: new AbortController().signal, log: { info: () => undefined } }) as unknown as ToolCallContext;
const run = (args: Record<string, unknown>) => files.run(args, ctx());
const refused = async (args: Record<string, unknown>): Promise<string> => {
  const err = await run(args).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ToolError);
  return (err as Error).message;
};

beforeEach(async () => {
  ws = await mkdtemp(join(tmpdir(), 'files-ws-'));
  outside = await mkdtemp(join(tmpdir(), 'files-outside-'));
  await writeFile(join(outside, 'secret.txt'), 'top secret\n');
  await mkdir(join(ws, 'src'));
  await writeFile(join(ws, 'src', 'calc.js'), 'export const add = (a, b) => a - b;\nexport const sub = (a, b) => a - b;\n');
});
afterEach(async () => {
  for (const dir of [ws, outside]) await rm(dir, { recursive: true, force: true });
});

describe('files tool: inside the workspace only', () => {
  it('refuses .. that climbs out, for every operation', async () => {
    const path = `../${outside.split('/').pop()}/secret.txt`;
    for (const args of [{ op: 'read', path }, { op: 'list', path }, { op: 'search', path, pattern: 'x' }]) expect(await refused(args)).toMatch(/climbs out of the workspace/);
    expect(await refused({ op: 'write', path: 'src/../../escape.txt', content: 'x' })).toMatch(/climbs out of the workspace/);
  });

  it('refuses an absolute path outside and allows one inside', async () => {
    expect(await refused({ op: 'read', path: join(outside, 'secret.txt') })).toMatch(/is an absolute path outside the workspace/);
    expect(await refused({ op: 'write', path: '/etc/passwd', content: 'x' })).toMatch(/absolute path outside/);
    expect((await run({ op: 'read', path: join(ws, 'src', 'calc.js'), startLine: 2, endLine: 2 })).content).toBe('2: export const sub = (a, b) => a - b;');
  });

  it('refuses symlinks that resolve outside: to a file, to a directory, dangling, and writing through them', async () => {
    await symlink(join(outside, 'secret.txt'), join(ws, 'link.txt'));
    await symlink(outside, join(ws, 'dir-link'));
    await symlink(join(outside, 'not-yet.txt'), join(ws, 'dangling.txt'));
    expect(await refused({ op: 'read', path: 'link.txt' })).toMatch(/symlink to .*outside the workspace/);
    expect(await refused({ op: 'read', path: 'dir-link/secret.txt' })).toMatch(/symlink to .*outside the workspace/);
    expect(await refused({ op: 'write', path: 'dir-link/new.txt', content: 'x' })).toMatch(/outside the workspace/);
    expect(await refused({ op: 'write', path: 'dangling.txt', content: 'pwned' })).toMatch(/symlink whose target does not exist/);
    expect(await refused({ op: 'edit', path: 'link.txt', search: 'top', replace: 'pwned' })).toMatch(/outside the workspace/);
    // Nothing outside changed or appeared; search and list do not read through links.
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret\n');
    await expect(readFile(join(outside, 'not-yet.txt'))).rejects.toThrow();
    expect((await run({ op: 'search', pattern: 'secret' })).content).toBe('no matches');
    expect((await run({ op: 'list', recursive: true })).content).toContain('link.txt@');
    // A symlink that stays inside is fine.
    await symlink(join(ws, 'src', 'calc.js'), join(ws, 'inner.js'));
    expect((await run({ op: 'read', path: 'inner.js' })).content).toContain('add');
  });
});

describe('files tool: operations', () => {
  it('edits by exact search/replace only when the text occurs exactly once', async () => {
    expect(await refused({ op: 'edit', path: 'src/calc.js', search: 'a - b', replace: 'a + b' })).toMatch(/occurs 2 times/);
    await run({ op: 'edit', path: 'src/calc.js', search: 'add = (a, b) => a - b', replace: 'add = (a, b) => a + b' });
    expect(await readFile(join(ws, 'src', 'calc.js'), 'utf8')).toBe('export const add = (a, b) => a + b;\nexport const sub = (a, b) => a - b;\n');
  });

  it('applies a unified diff, and refuses one that does not match (changing nothing)', async () => {
    const diff = '--- a/src/calc.js\n+++ b/src/calc.js\n@@ -1,2 +1,2 @@\n-export const add = (a, b) => a - b;\n+export const add = (a, b) => a + b;\n export const sub = (a, b) => a - b;\n';
    await run({ op: 'edit', path: 'src/calc.js', diff });
    expect(await readFile(join(ws, 'src', 'calc.js'), 'utf8')).toContain('add = (a, b) => a + b');
    expect(await refused({ op: 'edit', path: 'src/calc.js', diff })).toMatch(/hunk 1 .* does not match the file/);
  });

  it('searches with a regex and a glob, lists, and bounds what it returns', async () => {
    await writeFile(join(ws, 'src', 'notes.md'), 'a - b is subtraction\n');
    expect((await run({ op: 'search', pattern: 'a - b', glob: '*.js' })).content).toBe('src/calc.js:1: export const add = (a, b) => a - b;\nsrc/calc.js:2: export const sub = (a, b) => a - b;');
    expect((await run({ op: 'search', pattern: 'a - b', maxHits: 1 })).content).toMatch(/stopped at 1 hits/);
    expect((await run({ op: 'list', recursive: true })).content.split('\n')).toEqual(['src/', expect.stringMatching(/^src\/calc\.js\t\d+$/), expect.stringMatching(/^src\/notes\.md\t\d+$/)]);
    await writeFile(join(ws, 'big.txt'), 'y'.repeat(200_000));
    const big = await run({ op: 'read', path: 'big.txt' });
    expect(big.content.length).toBeLessThanOrEqual(64 * 1024);
    expect(big.summary).toMatchObject({ ok: true, truncated: true });
    expect(big.summary.stdout!.length).toBeLessThanOrEqual(16 * 1024);
  });

  it('names what was wrong with bad arguments', async () => {
    expect(await refused({ op: 'delete', path: 'x' })).toMatch(/^invalid files arguments: op/);
    expect(await refused({ op: 'read' })).toMatch(/^invalid files arguments: path/);
  });
});
