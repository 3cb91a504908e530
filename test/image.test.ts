import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects, TaskResult, type AgentEvent } from '@aiflock/protocol';
import { addQueue, Collector, enqueue, makeTask, newAgent, startPlane, type Plane } from '../packages/agent/test/harness.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildScript = join(root, 'scripts/build-image.sh');

interface Refs {
  base: string;
  agent: string;
}

async function build(): Promise<{ refs: Refs; stderr: string; ms: number }> {
  const t0 = Date.now();
  const { stdout, stderr } = await run(buildScript, ['--json'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return { refs: JSON.parse(last) as Refs, stderr, ms: Date.now() - t0 };
}

/** docker run, resolving with exit code and output instead of throwing on non-zero. */
async function docker(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('docker', args, { timeout: timeoutMs }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

let first: Awaited<ReturnType<typeof build>>;

beforeAll(async () => {
  // The image must carry the current sources, not whatever bundle was left behind.
  await run(process.execPath, [join(root, 'scripts/bundle-agent.mjs')], { cwd: root });
  first = await build();
});

describe('locally built images', () => {
  it('builds a host-made base and the agent image, tagged by content', async () => {
    expect(first.refs.base).toMatch(/^aiflock\/base:[0-9a-f]{12}$/);
    expect(first.refs.agent).toMatch(/^aiflock\/agent:[0-9a-f]{12}$/);
    const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', 'aiflock/agent:latest']);
    const labels = JSON.parse(stdout) as Record<string, string>;
    expect(labels['aiflock.bundle-sha256']!.slice(0, 12)).toBe(first.refs.agent.split(':')[1]);
    expect(labels['aiflock.base-image']).toBe(first.refs.base);
  });

  it('is a fast no-op the second time', async () => {
    const again = await build();
    expect(again.refs).toEqual(first.refs);
    expect(again.stderr).toContain(`${first.refs.base} is up to date (skipped)`);
    expect(again.stderr).toContain(`${first.refs.agent} is up to date (skipped)`);
    expect(again.stderr).not.toMatch(/building|importing/);
  });

  it('exits 2 naming the missing variable when run without the environment', async () => {
    const r = await docker(['run', '--rm', 'aiflock/agent:latest']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('AIFLOCK_INSTANCE_ID is not set');
  });

  it('runs as uid 1001 by default', async () => {
    const r = await docker(['run', '--rm', '--entrypoint', 'id', 'aiflock/agent:latest', '-u']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1001');
  });

  it('rejects an unknown option with the usage exit code', async () => {
    const r = await run(buildScript, ['--bogus']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown argument: --bogus');
  });

  describe('against a real bus, hardened like a restricted sandbox', () => {
    let plane: Plane;
    const ids = newAgent('image');
    const container = `aiflock-image-test-${process.pid}`;

    beforeAll(async () => {
      plane = await startPlane();
      await addQueue(plane.jsm, ids.agent);
    });
    afterAll(async () => {
      await docker(['rm', '-f', container]);
      await plane?.close();
    });

    it('serves echo and shell tasks as uid 1001 on a read-only root and stops cleanly on SIGTERM', async () => {
      const results = new Collector<TaskResult>(plane.nc, subjects.results(ids.instanceId));
      const events = new Collector<AgentEvent>(plane.nc, subjects.events(ids.instanceId));
      await plane.nc.flush();
      // Host networking only so the container reaches the loopback-only test server.
      const proc = spawn('docker', [
        'run', '--rm', '--init', '--name', container, '--network', 'host',
        '--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
        '--memory', '256m', '--pids-limit', '128',
        '-e', `AIFLOCK_INSTANCE_ID=${ids.instanceId}`, '-e', `AIFLOCK_AGENT=${ids.agent}`,
        '-e', `AIFLOCK_NATS_URL=${plane.server.url}`, '-e', 'AIFLOCK_HANDLERS=echo,shell',
        'aiflock/agent:latest',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
      try {
        await events.wait((e) => e.type === 'lifecycle' && e.phase === 'ready', 30_000, `ready (container output: ${output})`);
        const echoTask = makeTask(ids.agent, 'echo', 'from the image');
        const shellTask = makeTask(ids.agent, 'shell', 'id -u; touch /opt/aiflock/x 2>/dev/null || echo read-only');
        await enqueue(plane.js, echoTask);
        await enqueue(plane.js, shellTask);
        expect(await results.wait((r) => r.taskId === echoTask.id, 20_000)).toMatchObject({ status: 'completed', result: 'from the image' });
        const sh = TaskResult.parse(await results.wait((r) => r.taskId === shellTask.id, 20_000));
        expect(sh.status).toBe('completed');
        expect(sh.result).toBe('1001\nread-only\n');

        await docker(['stop', '--time', '20', container]);
        expect(await exited).toBe(0);
        expect(events.items.some((e) => e.type === 'lifecycle' && e.phase === 'stopping')).toBe(true);
      } finally {
        results.close();
        events.close();
      }
    });
  });
});
