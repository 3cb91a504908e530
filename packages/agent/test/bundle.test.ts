import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const script = join(root, 'scripts/bundle-agent.mjs');

interface Metafile {
  inputs: Record<string, unknown>;
}

const FORBIDDEN = /(^|\/)(packages\/(daemon|core|cli)\/|node_modules\/(@aiflock\/(daemon|core|cli)|fastify|@fastify|kysely|dockerode|better-sqlite3|pino|prom-client)\/)/;

let outDir: string;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'aiflock-bundle-'));
  await run(process.execPath, [script, '--out-dir', outDir], { cwd: root });
}, 60_000);
afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('agent bundle', () => {
  it('contains the runtime and nothing of the control plane', async () => {
    const meta = JSON.parse(await readFile(join(outDir, 'meta.json'), 'utf8')) as Metafile;
    const inputs = Object.keys(meta.inputs);
    expect(inputs).toContain('packages/agent/src/main.ts');
    expect(inputs.some((i) => i.startsWith('packages/protocol/src/'))).toBe(true);
    expect(inputs.some((i) => i.includes('node_modules/nats/'))).toBe(true);
    expect(inputs.filter((i) => FORBIDDEN.test(i))).toEqual([]);
  });

  it('records its sha256', async () => {
    const bytes = await readFile(join(outDir, 'agent.mjs'));
    const recorded = (await readFile(join(outDir, 'agent.sha256'), 'utf8')).split(/\s+/)[0];
    expect(recorded).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('runs, and exits 2 naming AIFLOCK_INSTANCE_ID when the environment is empty', async () => {
    const err = await run(process.execPath, [join(outDir, 'agent.mjs')], { env: {}, timeout: 20_000 }).then(
      () => null,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('AIFLOCK_INSTANCE_ID');
    expect(err?.stderr?.trim().split('\n')).toHaveLength(1);
  });

  it('refuses to bundle control-plane code', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'aiflock-bundle-bad-'));
    try {
      const err = await run(
        process.execPath,
        [script, '--entry', join(root, 'packages/agent/test/fixtures/forbidden-entry.ts'), '--out-dir', bad],
        { cwd: root },
      ).then(
        () => null,
        (e: { code?: number; stderr?: string }) => e,
      );
      expect(err?.code).toBe(1);
      expect(err?.stderr).toContain('must not contain control-plane code');
      expect(err?.stderr).toContain('packages/core/src/index.ts (@aiflock/core)');
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  }, 60_000);
});
