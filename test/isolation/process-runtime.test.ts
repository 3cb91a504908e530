import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '@aiflock/core';
import { ProcessRuntime } from '../../packages/daemon/src/adapters/runtimes/process/process-runtime.js';
import { ProfileRouter } from '../../packages/daemon/src/adapters/runtimes/profile-router.js';
import { sandboxExecOf } from '../../packages/daemon/src/sandbox-exec.js';
import { launcherArgv } from '../../packages/daemon/src/adapters/runtimes/process/sandbox-command.js';
import { SANDBOX_SECRETS_DIR } from '../../packages/daemon/src/adapters/runtimes/shared/secret-files.js';
import { REPO_ROOT, eventually } from '../../testkit/flock.js';
import { startNatsServer, type TestNatsServer } from '../../testkit/nats-server.js';
import { randomLinkLocal, remoteHost, type RemoteHost } from '../../testkit/netns.js';
import { freePort } from '../../testkit/ports.js';
import { rand } from './harness.js';

/*
 * The bubblewrap process runtime (for hosts without Docker), attacked the same way: from
 * inside a running instance, entered with nsenter the way `docker exec` enters a container.
 */
const BUNDLE = join(REPO_ROOT, 'packages', 'agent', 'dist', 'bundle', 'agent.mjs');
const MiB = 1024 ** 2;
const flock = `p${rand(6)}`;
// Under the repository (not /tmp, which is 1777 and per-session): parents traversable by uid 1001.
const base = join(REPO_ROOT, '.tmp');
let root: string;
let nats: TestNatsServer;
let nc: NatsConnection;
let runtime: ProcessRuntime;
const hostService: Server[] = [];
/** "The internet" and "cloud metadata": a namespace of this test, routed from the host. */
let remote: RemoteHost;
let hostPort: number;
const alpha = `alpha-${rand(8)}`;
const beta = `beta-${rand(8)}`;
const SECRET = `proc-secret-${rand(16)}`;

const spec = (agent: string, instanceId: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  instanceId,
  agent,
  image: 'unused-by-the-process-runtime',
  profile: 'restricted',
  env: { AIFLOCK_INSTANCE_ID: instanceId, AIFLOCK_AGENT: agent, AIFLOCK_NATS_URL: runtime.busUrlForSandboxes(), AIFLOCK_HANDLERS: 'echo', AIFLOCK_HEARTBEAT_MS: '300' },
  resources: { cpu: 0.5, memoryBytes: 256 * MiB, pids: 64, tmpBytes: 8 * MiB },
  manifestDigest: `sha256:${'ef'.repeat(32)}`,
  ...over,
});

/** The agent's node process: the one in the instance's cgroup running the bundle. */
function agentPid(instanceId: string): number {
  const procs = spawnSync('sh', ['-c', `cat /sys/fs/cgroup/pids/aiflock-${flock}/${instanceId}/cgroup.procs /sys/fs/cgroup/aiflock-${flock}/${instanceId}/cgroup.procs 2>/dev/null`], { encoding: 'utf8' }).stdout;
  for (const pid of procs.split('\n').filter(Boolean)) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd.includes('/opt/aiflock/agent.mjs') && !cmd.includes('bwrap') && readlinkSync(`/proc/${pid}/exe`) === process.execPath) return Number(pid);
  }
  throw new Error(`no agent process for ${instanceId} among ${procs}`);
}

const cgroupProcs = (instanceId: string): string[] =>
  [`/sys/fs/cgroup/aiflock-${flock}/${instanceId}`, ...['memory', 'pids', 'cpu', 'freezer'].map((c) => `/sys/fs/cgroup/${c}/aiflock-${flock}/${instanceId}`)]
    .map((d) => join(d, 'cgroup.procs'))
    .filter((f) => existsSync(f));

/**
 * Like `docker exec`: join the instance's cgroups (the same launcher the runtime uses), enter
 * every namespace as the sandbox user (which leaves no capabilities), without new privileges.
 */
function execIn(instanceId: string, script: string, args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const pid = agentPid(instanceId);
  const enter = ['nsenter', '-t', String(pid), '-U', '-m', '-n', '-p', '-i', '-u', '--root', '--wd=/tmp', '-S', '1001', '-G', '1001'];
  const drop = ['setpriv', '--no-new-privs', '--'];
  const r = spawnSync('sh', launcherArgv(cgroupProcs(instanceId), [...enter, ...drop, process.execPath, '-e', script, ...args]), { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Capability sets of the agent process itself, read from the host. */
function agentCaps(instanceId: string): string[] {
  return readFileSync(`/proc/${agentPid(instanceId)}/status`, 'utf8')
    .split('\n')
    .filter((l) => /^Cap(Eff|Prm|Bnd|Amb)/.test(l))
    .map((l) => l.split(':')[1]!.trim());
}
const probe = <T>(id: string, script: string, args: string[] = []): T => {
  const r = execIn(id, script, args);
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
  } catch {
    throw new Error(`probe printed no JSON (status ${r.status}): ${r.stdout} ${r.stderr}`);
  }
};

async function heartbeatsOf(instanceId: string, ms: number): Promise<number> {
  const sub = nc.subscribe(`agent.${instanceId}.heartbeat`);
  let n = 0;
  const done = (async () => {
    for await (const _ of sub) n++;
  })();
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  await done;
  return n;
}

beforeAll(async () => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build`);
  mkdirSync(base, { recursive: true, mode: 0o755 });
  chmodSync(base, 0o755);
  root = mkdtempSync(join(base, 'proc-'));
  chmodSync(root, 0o711);
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  runtime = new ProcessRuntime({ flock, node: 'proc', rootDir: root, bundle: BUNDLE, busServers: [{ host: '127.0.0.1', port: nats.port }], busPort: nats.port, secretsDir: join(root, 'secrets') });
  await runtime.init();
  hostPort = await freePort('0.0.0.0');
  const srv = createServer((s) => s.end('host'));
  await new Promise<void>((r) => srv.listen(hostPort, '0.0.0.0', r));
  hostService.push(srv);
  remote = await remoteHost({ extra: [randomLinkLocal()] });
  await remote.serve([443, 80]);
  mkdirSync(join(runtime.hostSharedDir(), 'agents', 'beta'), { recursive: true });
  writeFileSync(join(runtime.hostSharedDir(), 'agents', 'beta', 'private.txt'), 'beta only');
  await runtime.start(spec('alpha', alpha, { secretFiles: { tok: SECRET } }));
  await runtime.start(spec('beta', beta));
});

afterAll(async () => {
  for (const s of hostService) s.close();
  await remote?.close();
  await runtime?.dispose();
  await nc?.close();
  await nats?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
  expect(cgroupProcs(alpha)).toEqual([]); // nothing of the flock is left in the cgroup tree
  expect(existsSync(`/sys/fs/cgroup/pids/aiflock-${flock}`) || existsSync(`/sys/fs/cgroup/aiflock-${flock}`)).toBe(false);
});

describe('process runtime (bubblewrap)', () => {
  it('says it is weaker than containers, and that it applies the seccomp profile', () => {
    expect(runtime.isolation().detail).toMatch(/WEAKER than containers.*seccomp profile containers get/);
  });

  it('runs a command (aiflock agent exec) confined as the instance: its user, files, cgroup and seccomp filter, no network; no terminal', async () => {
    expect(runtime.capabilities.exec).toBe(true);
    const api = sandboxExecOf(new ProfileRouter(runtime, null));
    expect(api.canExec).toBe(true);
    const script = `id -u; cat ${SANDBOX_SECRETS_DIR}/tok; echo; grep ^Seccomp: /proc/self/status; cat /proc/net/dev | tail -n +3 | cut -d: -f1; echo oops >&2; exit 3`;
    const session = await api.exec(alpha, { command: ['sh', '-c', script], tty: false, stdin: false });
    const out = { stdout: '', stderr: '' };
    session.onOutput((stream, d) => (out[stream] += Buffer.from(d).toString()));
    expect(await session.exited).toBe(3);
    const lines = out.stdout.trim().split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('1001');
    expect(lines[1]).toBe(SECRET);
    expect(lines[2]).toMatch(/^Seccomp:\s+2$/);
    // The only interface is loopback.
    expect(lines.slice(3)).toEqual(['lo']);
    expect(out.stderr).toBe('oops\n');
    // Input through -i reaches it; while it waits for it, it is one of the instance's cgroup's
    // processes (its limits hold for both).
    const cat = await api.exec(alpha, { command: ['cat'], tty: false, stdin: true });
    let echoed = '';
    cat.onOutput((_s, d) => (echoed += Buffer.from(d).toString()));
    await eventually(async () => {
      const pids = cgroupProcs(alpha).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean));
      return pids.some((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] === 'cat') || undefined;
    }, 'the exec in the instance cgroup', 10_000);
    cat.write(Buffer.from('typed\n'));
    cat.closeStdin();
    expect([await cat.exited, echoed]).toEqual([0, 'typed\n']);
    await expect(api.exec(alpha, { command: ['sh'], tty: true, stdin: true })).rejects.toMatchObject({ code: 'exec_unsupported', message: expect.stringContaining('no terminal') });
  });

  it('measures an instance (aiflock stats) from its cgroup', async () => {
    const st = (await runtime.stats(alpha))!;
    expect(st.memoryBytes).toBeGreaterThan(0);
    expect(st.memoryLimitBytes).toBe(256 * MiB);
    expect(st.pids).toBeGreaterThan(0);
    expect(st.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(await runtime.stats('gone-00000000')).toBeNull();
  });

  it('runs the agent under the flock’s seccomp filter (read from the host; what it refuses: packages/daemon/test/runtimes/process/seccomp-bpf.test.ts)', () => {
    const status = readFileSync(`/proc/${agentPid(alpha)}/status`, 'utf8');
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  it('runs the real agent, which reaches the bus through its Unix socket and nothing else', async () => {
    let beats = 0;
    for (let i = 0; i < 40 && beats === 0; i++) beats = await heartbeatsOf(alpha, 500);
    expect(beats).toBeGreaterThan(0);
    expect((await runtime.list()).map((i) => i.state)).toEqual(['running', 'running']);
  });

  it('as uid 1001 with no capabilities, read-only root, only /usr and its own binds visible', () => {
    const r = probe<Record<string, unknown>>(
      alpha,
      `const fs = require('fs');
       const w = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return e.code; } };
       const ls = (p) => { try { return fs.readdirSync(p).sort(); } catch (e) { return e.code; } };
       console.log(JSON.stringify({ uid: process.getuid(), root: ls('/').filter((x) => !['bin','lib','lib64','lib32','sbin'].includes(x)),
         usr: w('/usr/x'), slash: w('/x'), tmp: w('/tmp/x'), agents: ls('/shared/agents'), beta: ls('/shared/agents/beta'), common: w('/shared/common/x'),
         work: ls('${REPO_ROOT}'), rootHome: ls('/root'), secret: fs.readFileSync('/run/secrets/tok', 'utf8'),
         secretMode: (fs.statSync('/run/secrets/tok').mode & 0o777).toString(8), env: Object.values(process.env).some((v) => v.includes('${SECRET}')) }));`,
    );
    expect(agentCaps(alpha)).toEqual(['0000000000000000', '0000000000000000', '0000000000000000', '0000000000000000']);
    expect(r).toEqual({
      uid: 1001,
      root: ['dev', 'etc', 'opt', 'proc', 'run', 'shared', 'tmp', 'usr'],
      usr: 'EROFS',
      slash: 'EROFS',
      tmp: 'ok',
      agents: ['alpha'],
      beta: 'ENOENT',
      common: 'EROFS',
      work: 'ENOENT',
      rootHome: 'ENOENT',
      secret: SECRET,
      secretMode: '400',
      env: false,
    });
  });

  it('has no network: not the host, not loopback services of the host, not the internet, not metadata', async () => {
    expect(await remote.reachableFromHost(remote.address, 443)).toBe(true); // control: the "internet" is up
    const before = remote.seen.length;
    const r = probe<Record<string, string>>(
      alpha,
      `const net = require('net'); const out = {}; const targets = process.argv.slice(1); let left = targets.length;
       for (const t of targets) { const [h, p] = t.split(':'); const s = net.connect(Number(p), h);
         const done = (r) => { if (out[t]) return; out[t] = r; s.destroy(); if (--left === 0) { console.log(JSON.stringify(out)); process.exit(0); } };
         s.setTimeout(1500, () => done('timeout')); s.once('connect', () => done('connected')); s.once('error', (e) => done(e.code)); }`,
      [`127.0.0.1:${hostPort}`, `127.0.0.1:${nats.port}`, `${remote.address}:443`, `${remote.extra[0]}:80`, `172.17.0.1:${hostPort}`],
    );
    // The one thing that answers is the agent's own relay to the bus, inside its namespace.
    expect(r[`127.0.0.1:${nats.port}`]).toBe('connected');
    delete r[`127.0.0.1:${nats.port}`];
    expect(Object.keys(r)).toHaveLength(4);
    for (const [target, result] of Object.entries(r)) expect(result, target).not.toBe('connected');
    expect(remote.seen.slice(before)).toEqual([]);
  });

  it('limits are cgroup limits: a fork burst stops at the pids limit, a balloon is OOM-killed', () => {
    const burst = probe<{ ok: number; errs: Record<string, number> }>(
      alpha,
      `const { spawn } = require('child_process'); const kids = []; let ok = 0; const errs = {};
       for (let i = 0; i < 120; i++) { try { const c = spawn('/bin/sh', ['-c', 'read x'], { stdio: ['pipe', 'ignore', 'ignore'] });
         c.on('spawn', () => ok++); c.on('error', (e) => { errs[e.code] = (errs[e.code] || 0) + 1; }); c.stdin.on('error', () => {}); kids.push(c); } catch (e) { errs[e.code] = (errs[e.code] || 0) + 1; } }
       setTimeout(() => { for (const c of kids) { try { c.kill('SIGKILL'); } catch {} } console.log(JSON.stringify({ ok, errs })); process.exit(0); }, 2000);`,
    );
    expect(burst.ok).toBeLessThan(64);
    expect(burst.errs['EAGAIN'] ?? 0).toBeGreaterThan(0);
    const balloon = execIn(alpha, 'const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1));');
    expect(balloon.status).toBe(null); // killed by a signal (SIGKILL from the OOM killer)
    expect(agentPid(alpha)).toBeGreaterThan(0); // the agent survives
  });

  it('stop is graceful: the agent gets SIGTERM and exits cleanly', async () => {
    await runtime.stop(beta, 10_000);
    expect((await runtime.list()).find((i) => i.instanceId === beta)).toMatchObject({ state: 'exited', exitCode: 0, oomKilled: false });
  });

  it('quarantine freezes it and cuts the bus; release resumes; kill ends it', async () => {
    await runtime.quarantine(alpha);
    expect((await runtime.list()).find((i) => i.instanceId === alpha)?.state).toBe('paused');
    await new Promise((r) => setTimeout(r, 500));
    expect(await heartbeatsOf(alpha, 1500)).toBe(0);
    await runtime.release(alpha);
    let beats = 0;
    for (let i = 0; i < 20 && beats === 0; i++) beats = await heartbeatsOf(alpha, 500);
    expect(beats).toBeGreaterThan(0);
    await runtime.kill(alpha);
    expect((await runtime.list()).find((i) => i.instanceId === alpha)?.state).toBe('exited');
  });
});

describe('process runtime: storage limits (issue 16)', () => {
  it('a workspace and a log directory written past their size give ENOSPC inside; remove leaves no loop device', async () => {
    const gamma = `gamma-${rand(8)}`;
    const base = spec('gamma', gamma);
    await runtime.start({ ...base, resources: { ...base.resources, workspaceBytes: 24 * 1024 ** 2 } });
    // The launcher execs bubblewrap, which execs node: the agent process appears a moment later.
    await eventually(async () => {
      try {
        return agentPid(gamma) > 0;
      } catch {
        return false;
      }
    }, 'the agent process of gamma');
    const fill = `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'w'); const b = Buffer.alloc(1 << 20, 7); let n = 0, error = 'none';
      try { for (let i = 0; i < 200; i++) n += fs.writeSync(fd, b); } catch (e) { error = e.code; } console.log(JSON.stringify({ n, error }));`;
    const ws = probe<{ n: number; error: string }>(gamma, fill, ['/shared/agents/gamma/fill']);
    expect(ws.error).toBe('ENOSPC');
    expect(ws.n).toBeLessThanOrEqual(24 * 1024 ** 2);
    const logs = probe<{ n: number; error: string }>(gamma, fill, [`/shared/logs/${gamma}/flood`]);
    expect(logs.error).toBe('ENOSPC');
    expect(logs.n).toBeLessThanOrEqual(48 * 1024 ** 2); // 10 MiB x 4 files + 8 MiB, the defaults
    const image = join(runtime.hostSharedDir(), 'volumes', 'gamma.ext4');
    expect(spawnSync('losetup', ['-j', image], { encoding: 'utf8' }).stdout).toMatch(/loop/);
    await runtime.remove(gamma);
    await eventually(async () => spawnSync('losetup', ['-j', image], { encoding: 'utf8' }).stdout.trim() === '', 'the loop device released');
  });
});

