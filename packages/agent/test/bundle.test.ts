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
  inputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }>;
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

/** The inputs an instance evaluates at start: reached from the entry by static imports only (import() is deferred). */
function startupInputs(meta: Metafile, entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [entry];
  for (let input = queue.pop(); input !== undefined; input = queue.pop()) {
    if (seen.has(input)) continue;
    seen.add(input);
    for (const i of meta.inputs[input]?.imports ?? []) if (!i.external && i.kind !== 'dynamic-import') queue.push(i.path);
  }
  return seen;
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

  it('leaves the task path and the handlers out of what an idle instance evaluates', async () => {
    const meta = JSON.parse(await readFile(join(outDir, 'meta.json'), 'utf8')) as Metafile;
    const atStart = startupInputs(meta, 'packages/agent/src/main.ts');
    // What an idle instance needs: its environment, the bus, heartbeats, the consumer.
    for (const needed of ['packages/agent/src/runtime.ts', 'packages/protocol/src/runtime-env.ts', 'packages/agent/src/consumer-loop.ts']) expect(atStart).toContain(needed);
    // Loaded at the first task: the protocol's index (every schema), the op catalogue, the
    // runner, the clients and the handlers. A value import of '@aiflock/protocol' (rather than
    // '@aiflock/protocol/<file>') in a module loaded at start brings them all back.
    const deferred = [
      'packages/protocol/src/index.ts',
      'packages/protocol/src/agent-ops.ts',
      'packages/protocol/src/api.ts',
      'packages/agent/src/task-runner.ts',
      'packages/agent/src/bus-rpc.ts',
      'packages/agent/src/llm-client.ts',
      'packages/agent/src/handlers/shell.ts',
      'packages/agent/src/handlers/llm.ts',
      'packages/agent/src/handlers/browser.ts',
      'packages/agent/src/loop/agent-loop.ts',
      'packages/agent/src/tools/index.ts',
      'packages/agent/src/village/start.ts',
    ];
    for (const later of deferred) expect(Object.keys(meta.inputs), `${later} is in the bundle`).toContain(later);
    expect(deferred.filter((later) => atStart.has(later)), 'evaluated at start').toEqual([]);
    // Only the parts of zod in use (a `{ z }` import keeps every locale and the JSON Schema converters).
    const inOutput = Object.values(meta.outputs).flatMap((o) => Object.entries(o.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => k));
    expect(inOutput.filter((i) => i.includes('node_modules/zod/v4/locales/') && !/\/(en|index)\.js$/.test(i))).toEqual([]);
  });

  it('keeps the op catalogue and the protocol index off the task runner\'s path', async () => {
    const meta = JSON.parse(await readFile(join(outDir, 'meta.json'), 'utf8')) as Metafile;
    // What the first task loads (and a warm sandbox loads before its claim): the runner and its clients, not every op's schemas.
    const taskPath = startupInputs(meta, 'packages/agent/src/task-path.ts');
    for (const needed of ['packages/agent/src/task-runner.ts', 'packages/agent/src/bus-clients.ts', 'packages/protocol/src/task.ts']) expect(taskPath).toContain(needed);
    expect(['packages/protocol/src/agent-ops.ts', 'packages/protocol/src/index.ts', 'packages/protocol/src/api.ts'].filter((i) => taskPath.has(i))).toEqual([]);
  });

  it('is ASCII, so V8 holds its text at one byte per character', async () => {
    const bytes = await readFile(join(outDir, 'agent.mjs'));
    expect(bytes.findIndex((b) => b > 0x7f)).toBe(-1);
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
