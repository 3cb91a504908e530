import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../../testkit/flock.js';
import { rand } from './harness.js';

/*
 * The whole flock on the process runtime (config `runtime.kind: process`): the real CLI,
 * daemon, nats-server and SQLite, sandboxes as bubblewrap processes. Secrets end to end and
 * the kill switch, through the CLI.
 */
let flock: TestFlock;
let procDir: string;
const SECRET = `pf-secret-${rand(20)}`;
const CLI = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js');

const task = async (agent: string, command: string): Promise<TaskView> => {
  const r = await flock.cli(['task', 'run', agent, '--type', 'shell', '--input', command, '--wait', '--json']);
  return JSON.parse(r.stdout) as TaskView;
};

/** `aiflock secret set NAME` with `input` on stdin (then closed), as a user pipes it. */
const secretSet = (name: string, input: string) =>
  new Promise<{ code: number; stderr: string }>((done) => {
    const child = spawn(process.execPath, [CLI, 'secret', 'set', name], { env: flock.env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.on('close', (code) => done({ code: code ?? 1, stderr }));
  });

beforeAll(async () => {
  // Under the repository: bubblewrap runs as the sandbox user and must traverse the parents.
  const base = join(REPO_ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755);
  procDir = mkdtempSync(join(base, 'pflock-'));
  chmodSync(procDir, 0o711);
  flock = await testFlock();
  flock.env['AIFLOCK_RUNTIME'] = 'process';
  flock.env['AIFLOCK_PROCESS_DIR'] = procDir;
  flock.env['AIFLOCK_SECRETS_DIR'] = join(procDir, 'secrets');
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 120_000 });
  expect(up.code, up.stderr).toBe(0);
});

afterAll(async () => {
  await flock?.cleanup();
  if (procDir) rmSync(procDir, { recursive: true, force: true });
});

describe('flock on the process runtime', () => {
  it('reports itself as weaker than containers', async () => {
    const s = await flock.api('/v1/status');
    expect(s.body.checks.runtime.detail).toMatch(/WEAKER than containers/);
  });

  it('secret set reads stdin only; list shows names; the agent gets the file, never the env', async () => {
    expect((await secretSet('tok', `${SECRET}\n`)).code).toBe(0); // one trailing newline is dropped
    const noValue = await secretSet('empty', '');
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain('no value on stdin');
    expect(JSON.parse((await flock.cli(['secret', 'list', '--json'])).stdout)).toEqual([{ name: 'tok', createdAt: expect.any(String), updatedAt: expect.any(String) }]);

    const file = join(flock.home, 'keeper.agent.yaml');
    await writeFile(file, 'name: keeper\nhandlers: [shell]\ntools: { shell: true }\nsecrets:\n  - { name: tok, file: true }\n');
    const dep = await flock.cli(['agent', 'deploy', file]);
    expect(dep.code, dep.stderr).toBe(0);
    await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', 'keeper'])).status === 'running', 'keeper running', 60_000);
    // The agent proves it holds the value by its hash: printing the value itself would put it
    // in the task's result, which is the agent's doing, not a leak.
    const t = await task('keeper', 'id -u; stat -c %a /run/secrets/tok; sha256sum < /run/secrets/tok | cut -d" " -f1; env | grep -c pf-secret; true');
    expect(t.status).toBe('completed');
    const sha = createHash('sha256').update(SECRET).digest('hex');
    expect((t.output as { stdout: string }).stdout.trim().split('\n')).toEqual(['1001', '400', sha, '0']);
    const log = await readFile(join(flock.home, 'daemon.log'), 'utf8');
    expect(log).not.toContain(SECRET);
    expect((await readFile(join(flock.home, 'flock.db'))).includes(SECRET)).toBe(false);
    expect((await flock.cli(['secret', 'rm', 'nope'])).code).toBe(3);
  });

  it('a manifest asking for egress is refused at start on a runtime without a proxy, with the reason in its logs', async () => {
    const file = join(flock.home, 'roamer.agent.yaml');
    await writeFile(file, 'name: roamer\nnetwork: { egress: ["api.example.com"] }\n');
    expect((await flock.cli(['agent', 'deploy', file])).code).toBe(0);
    await eventually(async () => (await flock.cli(['agent', 'logs', 'roamer'])).stdout.includes('runs no egress proxy'), 'the refusal in the logs', 30_000);
    expect((await flock.cliJson<AgentView>(['agent', 'get', 'roamer'])).replicas.running).toBe(0);
  });

  it('a manifest asking for GPUs is refused at deploy: the process runtime gives sandboxes none, and its node says so', async () => {
    const r = await flock.api('/v1/agents', { method: 'POST', body: { manifest: 'name: trainer\nhandlers: [echo]\nresources: { gpus: 1 }\n' } });
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ error: { code: 'manifest_refused', details: { field: 'resources.gpus', value: 1 } } });
    expect(JSON.stringify(r.body)).toMatch(/which the process runtime cannot give/);
    expect((await flock.api('/v1/agents/trainer')).status).toBe(404);
    const nodes = (await flock.api('/v1/nodes')).body as { nodes: { local: boolean; capacity: { gpuSandboxes: boolean } | null }[] };
    expect(nodes.nodes.find((n) => n.local)?.capacity?.gpuSandboxes).toBe(false);
  });

  it('quarantine freezes the agent (tasks wait), release resumes it, kill stops it; each is in its logs', async () => {
    const q = await flock.cliJson<AgentView>(['agent', 'quarantine', 'keeper']);
    expect(q.status).toBe('quarantined');
    expect(q.instances.every((i) => i.status === 'paused' || i.status === 'running')).toBe(true);
    await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', 'keeper'])).instances.some((i) => i.status === 'paused'), 'instances paused');
    expect((await flock.cli(['agent', 'scale', 'keeper', '2'])).code).toBe(6);
    // A task queued now is not run while quarantined.
    const queued = JSON.parse((await flock.cli(['task', 'run', 'keeper', '--type', 'shell', '--input', 'echo thawed', '--json'])).stdout) as TaskView;
    await new Promise((r) => setTimeout(r, 2000));
    expect((await flock.api(`/v1/tasks/${queued.id}`)).body.status).toBe('queued');

    const rel = await flock.cliJson<AgentView>(['agent', 'release', 'keeper']);
    expect(rel.status).not.toBe('quarantined');
    const done = await eventually(async () => {
      const t = (await flock.api(`/v1/tasks/${queued.id}`)).body as TaskView;
      return t.status === 'completed' ? t : null;
    }, 'the queued task to run after release', 60_000);
    expect((done.output as { stdout: string }).stdout.trim()).toBe('thawed');

    const k = await flock.cliJson<AgentView>(['agent', 'kill', 'keeper']);
    expect(k.status).toBe('stopped');
    await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', 'keeper'])).replicas.running === 0, 'no keeper instance left');
    const logs = (await flock.cli(['agent', 'logs', 'keeper', '--tail', '100'])).stdout;
    for (const what of ['quarantined by an admin', 'released from quarantine', 'killed by an admin']) expect(logs).toContain(what);
  });
});
