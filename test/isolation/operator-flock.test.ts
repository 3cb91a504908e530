import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../../testkit/flock.js';
import { nodeProbe } from '../../testkit/docker.js';
import { remoteHost, type RemoteHost } from '../../testkit/netns.js';
import { HTTP_VIA_PROXY, OPERATOR_ENGINE, ensureImage, rand } from './harness.js';

/*
 * The operator profile through the whole flock (real CLI, daemon, NATS with per-instance
 * JWT credentials, the main and the operator engines): an operator agent receives tasks over
 * its bus socket, runs them as root inside, reaches an allow-listed host through its proxy
 * socket; the daemon reports the operator engine; quarantine freezes it.
 */
const op = new Dockerode({ socketPath: OPERATOR_ENGINE });
let flock: TestFlock;
/** The allow-listed "repository": a namespace of this test, routed from the host. */
let remote: RemoteHost;
let upstreamIp: string;
const upstreamPort = 8080;
const SECRET = `op-flock-secret-${rand(20)}`;
const previousEngine = process.env.AIFLOCK_OPERATOR_ENGINE;

const task = (agent: string, command: string) =>
  flock.cli(['task', 'run', agent, '--type', 'shell', '--input', command, '--wait', '--json']).then((r) => JSON.parse(r.stdout) as TaskView);
const runningContainer = () =>
  eventually(async () => {
    const c = (await op.listContainers({ filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.agent=rooted'] } })).find((x) => x.State === 'running');
    return c ? op.getContainer(c.Id) : null;
  }, 'a running operator container');

beforeAll(async () => {
  ensureImage();
  remote = await remoteHost();
  upstreamIp = remote.address;
  await remote.serve([upstreamPort]);

  // The daemon the test flock starts inherits this: operator sandboxes go to the operator engine.
  process.env.AIFLOCK_OPERATOR_ENGINE = OPERATOR_ENGINE;
  // The repository's range is special-purpose (benchmarking): an admin may allow it by CIDR here.
  flock = await testFlock({ env: { AIFLOCK_EGRESS_PRIVATE_CIDRS: 'admin' } });
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  const set = await new Promise<number>((done) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'packages', 'cli', 'dist', 'main.js'), 'secret', 'set', 'tok'], { env: flock.env });
    child.stdin.end(SECRET);
    child.on('close', (code) => done(code ?? 1));
  });
  expect(set).toBe(0);
  const file = join(flock.home, 'rooted.agent.yaml');
  await writeFile(
    file,
    `name: rooted
profile: operator
handlers: [shell]
tools: { shell: true }
resources: { memory: 192Mi }
network: { egress: ["${upstreamIp}/32"] }
secrets:
  - { name: tok, file: true }
`,
  );
  const r = await flock.cli(['agent', 'deploy', file]);
  expect(r.code, r.stderr).toBe(0);
  await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', 'rooted'])).status === 'running', 'rooted running', 180_000);
}, 400_000);

afterAll(async () => {
  await flock?.cleanup();
  await remote?.close();
  if (previousEngine === undefined) delete process.env.AIFLOCK_OPERATOR_ENGINE;
  else process.env.AIFLOCK_OPERATOR_ENGINE = previousEngine;
});

describe('operator profile (flock)', () => {
  it('runs tasks that arrive over its bus socket, as root inside, with a writable root and its secret file', async () => {
    const t = await task('rooted', 'id -u; touch /usr/made-here && echo writable; ls /run/aiflock-sockets; sha256sum < /run/secrets/tok | cut -d" " -f1');
    expect(t.status).toBe('completed');
    expect((t.output as { stdout: string }).stdout.trim().split('\n')).toEqual(['0', 'writable', 'bus.sock', 'proxy.sock', createHash('sha256').update(SECRET).digest('hex')]);
  });

  it('runs on the operator engine only, with no network, as the remapped host uid', async () => {
    const c = await runningContainer();
    const info = await c.inspect();
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.Config.User).toBe('0:0');
    const main = new Dockerode();
    expect(await main.listContainers({ all: true, filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.agent=rooted'] } })).toEqual([]);
    const top = await c.top({ ps_args: '-o pid,uid' });
    const col = top.Titles.indexOf('UID');
    for (const p of top.Processes) expect(Number(p[col])).toBeGreaterThan(0);
  });

  it('reaches its allow-listed host through the proxy socket, and an unlisted one is refused', async () => {
    const c = await runningContainer();
    expect(await nodeProbe(c, HTTP_VIA_PROXY, [`http://${upstreamIp}:${upstreamPort}/pool`])).toEqual({ status: 200, body: 'upstream says hi to /pool' });
    expect((await nodeProbe<{ status: number }>(c, HTTP_VIA_PROXY, ['http://not-listed.invalid/'])).status).toBe(403);
  });

  it('status and /readyz report the operator engine', async () => {
    const status = await flock.cliJson<{ checks: Record<string, { ok: boolean; detail: string }> }>(['status']);
    expect(status.checks['operatorSandboxes']).toMatchObject({ ok: true, detail: expect.stringMatching(/user-namespace remapped engine/) });
  });

  it('quarantine freezes it and cuts its sockets; release brings it back to work', async () => {
    const c = await runningContainer();
    const inst = (await c.inspect()).Config.Labels!['aiflock.instance']!;
    const dir = `/run/aiflock-${flock.name}-operator/${inst}`; // the default socket directory
    expect(existsSync(`${dir}/bus.sock`)).toBe(true);
    const q = await flock.cli(['agent', 'quarantine', 'rooted']);
    expect(q.code, q.stderr).toBe(0);
    await eventually(async () => (await c.inspect()).State.Paused || null, 'paused');
    // Its only ways out (the bus and proxy sockets) are gone while it is frozen.
    expect(existsSync(`${dir}/bus.sock`)).toBe(false);
    expect(existsSync(`${dir}/proxy.sock`)).toBe(false);
    const r = await flock.cli(['agent', 'release', 'rooted']);
    expect(r.code, r.stderr).toBe(0);
    await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', 'rooted'])).status === 'running', 'rooted running again', 120_000);
    const t = await task('rooted', 'echo back');
    expect((t.output as { stdout: string }).stdout.trim()).toBe('back');
  });
});
