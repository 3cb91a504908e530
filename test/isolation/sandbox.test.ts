import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '@aiflock/core';
import { DockerRuntime } from '../../packages/daemon/src/adapters/runtimes/docker/docker-runtime.js';
import { bridgeInterfaceName, containerName, networkName } from '../../packages/daemon/src/adapters/runtimes/docker/names.js';
import { execDetached, execIn, nodeProbe } from '../../testkit/docker.js';
import { eventually } from '../../testkit/flock.js';
import { randomLinkLocal, remoteHost, type RemoteHost } from '../../testkit/netns.js';
import { freePort } from '../../testkit/ports.js';
import { FS_TRIES, IMAGE, SECCOMP_REFUSALS, buildProbe, ensureImage, forkBomb, rand, scanFrom, tcpFrom, withHostMarker } from './harness.js';

/*
 * Attacks from inside real sandboxes against the Docker runtime's hardening. Each `it` is an
 * attack that must fail; docs/security.md lists them with their results.
 */

const MiB = 1024 ** 2;
const docker = new Dockerode();
const flock = `i${rand(6)}`;
const sharedDir = mkdtempSync(join(tmpdir(), 'aiflock-iso-'));
const secretsDir = mkdtempSync(join(tmpdir(), 'aiflock-iso-secrets-'));
const SECRET = `iso-secret-${rand(16)}`;
let runtime: DockerRuntime;
let gateway: string;
let busPort: number;
let probePath: string;
const servers: Server[] = [];
/** "The internet" and "cloud metadata": a namespace of this test, routed from the host. */
let remote: RemoteHost;
const hostPorts: number[] = [];

const alpha = `alpha-${rand(8)}`;
const beta = `beta-${rand(8)}`;
const container = (id: string) => docker.getContainer(containerName(flock, id));

function spec(agent: string, instanceId: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    instanceId,
    agent,
    image: IMAGE,
    profile: 'restricted',
    env: { AIFLOCK_INSTANCE_ID: instanceId, AIFLOCK_AGENT: agent, AIFLOCK_NATS_URL: runtime.busUrlForSandboxes(), AIFLOCK_HANDLERS: 'echo' },
    // 256 MiB: a balloon then outgrows the agent runtime, so the OOM killer picks the balloon.
    resources: { cpu: 0.5, memoryBytes: 256 * MiB, pids: 64, tmpBytes: 8 * MiB },
    manifestDigest: `sha256:${'cd'.repeat(32)}`,
    ...over,
  };
}

/** Every IPv4 address of this host except the flock's own bridge. */
function hostAddresses(): string[] {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === bridgeInterfaceName(flock)) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

beforeAll(async () => {
  ensureImage();
  await docker.getImage(IMAGE).inspect();
  probePath = buildProbe();
  busPort = await freePort();
  runtime = new DockerRuntime({ docker, flock, sharedDir, busPort, node: 'iso', secretsDir });
  await runtime.init();
  gateway = runtime.gatewayIp();
  // Host services a sandbox must not reach: listening on every address, like careless ones do.
  for (let i = 0; i < 3; i++) {
    const port = await freePort('0.0.0.0');
    const srv = createServer((s) => s.end('host service'));
    await new Promise<void>((r) => srv.listen(port, '0.0.0.0', r));
    servers.push(srv);
    hostPorts.push(port);
  }
  remote = await remoteHost({ extra: [randomLinkLocal()] });
  await remote.serve([443, 80]);
  const bus = createServer((s) => s.end());
  await new Promise<void>((r) => bus.listen(busPort, gateway, r));
  servers.push(bus);

  mkdirSync(join(sharedDir, 'agents', 'beta'), { recursive: true });
  writeFileSync(join(sharedDir, 'agents', 'beta', 'private.txt'), 'beta only');
  await runtime.start(spec('alpha', alpha, { secretFiles: { tok: SECRET } }));
  await runtime.start(spec('beta', beta));
  // The probe goes into alpha's workspace twice: as the sandbox user, and root-owned setuid.
  const ws = join(sharedDir, 'agents', 'alpha');
  copyFileSync(probePath, join(ws, 'probe'));
  chownSync(join(ws, 'probe'), 1001, 1001);
  chmodSync(join(ws, 'probe'), 0o755);
  copyFileSync(probePath, join(ws, 'probe-suid'));
  chownSync(join(ws, 'probe-suid'), 0, 0);
  chmodSync(join(ws, 'probe-suid'), 0o4755);
});

afterAll(async () => {
  for (const s of servers) s.close();
  await remote?.close();
  await runtime?.dispose();
  rmSync(sharedDir, { recursive: true, force: true });
  rmSync(secretsDir, { recursive: true, force: true });
  if (probePath) rmSync(join(probePath, '..'), { recursive: true, force: true });
});

interface ProbeOut {
  rawSocket: string;
  mount: string;
  chown: string;
  unshareUser: string;
  unshareNet: string;
  euid: number;
  setuid0: string;
  uid: number;
  ptraceInit: string;
  vmReadv: string;
  ioUring: string;
  userfaultfd: string;
  bpf: string;
  perfEvent: string;
  keyctl: string;
  pingSocket: string;
}
const runProbe = async (bin: string): Promise<ProbeOut> => {
  const r = await execIn(container(alpha), [`/shared/agents/alpha/${bin}`, '/shared/agents/alpha/probe']);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProbeOut;
};

describe('isolation: privileges', () => {
  it('cannot gain a capability: raw socket (ping), mount, chown, new namespaces all refused', async () => {
    expect(await runProbe('probe')).toMatchObject({
      rawSocket: 'EPERM',
      mount: 'EPERM',
      chown: 'EPERM',
      unshareUser: 'EPERM',
      unshareNet: 'EPERM',
      euid: 1001,
      setuid0: 'EPERM',
      uid: 1001,
    });
  });

  it('cannot use what an agent never needs: ptrace of init, process_vm_readv, io_uring, userfaultfd, bpf, perf, keyrings, ICMP ping sockets', async () => {
    // The attack review stopped the sandbox's init with ptrace (same uid); the flock's seccomp
    // profile refuses it, and ping_group_range "1 0" leaves no group that may open a ping socket.
    expect(await runProbe('probe')).toMatchObject(SECCOMP_REFUSALS);
    // What the agent does need still works under the profile: Node (with its thread pool, as
    // io_uring is refused), a shell and its children, files.
    const r = await execIn(container(alpha), ['sh', '-c', `echo hi > /tmp/f && cat /tmp/f && node -e "require('fs').promises.readFile('/tmp/f','utf8').then((t)=>console.log('node', t.trim()))" && (sleep 0 & wait) && echo done`]);
    expect(r.stdout.trim().split('\n')).toEqual(['hi', 'node hi', 'done']);
    const info = await container(alpha).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.RestartCount).toBe(0);
  });

  it('a root-owned setuid binary does not make it root (no-new-privileges)', async () => {
    const r = await runProbe('probe-suid');
    expect(r.euid).toBe(1001);
    expect(r.setuid0).toBe('EPERM');
    expect(r.rawSocket).toBe('EPERM');
  });

  it('cannot write to the image or escape to host files', async () => {
    await withHostMarker(async (marker) => {
      const r = await nodeProbe<Record<string, string>>(
        container(alpha),
        `${FS_TRIES}
         console.log(JSON.stringify({
           bin: w('/usr/bin/node'), etc: w('/etc/passwd'), root: w('/x'), sys: w('/proc/sys/kernel/hostname'),
           sysrq: w('/proc/sysrq-trigger'), marker: rd(process.argv[1]), viaInit: rd('/proc/1/root' + process.argv[1]),
           dockerSock: rd('/var/run/docker.sock'), runDockerSock: rd('/run/docker.sock'), hostShadow: rd('/etc/shadow'),
         }));`,
        [marker],
      );
      expect(r).toMatchObject({
        bin: 'EROFS', etc: 'EROFS', root: 'EROFS', sys: 'EROFS',
        marker: 'ENOENT', viaInit: expect.stringMatching(/^E/), dockerSock: 'ENOENT', runDockerSock: 'ENOENT',
      });
      expect(['EROFS', 'EACCES', 'ENOENT']).toContain(r['sysrq']); // masked by Docker
      expect(r['hostShadow']).not.toBe('read');
    });
  });
});

describe('isolation: storage', () => {
  it("cannot read or write another agent's folder, nor write /shared/common", async () => {
    const r = await nodeProbe<Record<string, unknown>>(
      container(alpha),
      `${FS_TRIES}
       console.log(JSON.stringify({ agents: ls('/shared/agents'), beta: ls('/shared/agents/beta'),
         betaFile: w('/shared/agents/beta/private.txt'), common: w('/shared/common/x'), mkdirCommon: (() => { try { fs.mkdirSync('/shared/common/d'); return 'ok'; } catch (e) { return e.code; } })() }));`,
    );
    expect(r).toEqual({ agents: ['alpha'], beta: 'ENOENT', betaFile: 'ENOENT', common: 'EROFS', mkdirCommon: 'EROFS' });
  });

  it('/tmp is bounded by its tmpfs size', async () => {
    const r = await nodeProbe<{ r: string; wrote: number }>(
      container(alpha),
      `const fs = require('fs'); let wrote = 0; const chunk = Buffer.alloc(1 << 20);
       try { for (let i = 0; i < 64; i++) { fs.appendFileSync('/tmp/fill', chunk); wrote++; } console.log(JSON.stringify({ r: 'ok', wrote })); }
       catch (e) { console.log(JSON.stringify({ r: e.code, wrote })); } finally { fs.rmSync('/tmp/fill', { force: true }); }`,
    );
    expect(r.r).toBe('ENOSPC');
    expect(r.wrote).toBeLessThanOrEqual(8);
  });
});

describe('isolation: secrets', () => {
  it('a secret file is readable by its sandbox only, read-only, and never in the environment or inspect output', async () => {
    const r = await nodeProbe<Record<string, unknown>>(
      container(alpha),
      `const fs = require('fs'); const st = fs.statSync('/run/secrets/tok');
       let w; try { fs.writeFileSync('/run/secrets/tok', 'x'); w = 'ok'; } catch (e) { w = e.code; }
       console.log(JSON.stringify({ value: fs.readFileSync('/run/secrets/tok', 'utf8'), mode: (st.mode & 0o777).toString(8), uid: st.uid, write: w,
         env: Object.values(process.env).some((v) => v.includes(process.argv[1])),
         init: (() => { try { return fs.readFileSync('/proc/1/environ', 'utf8').includes(process.argv[1]) ? 'found' : 'clean'; } catch (e) { return e.code; } })() }));`,
      [SECRET],
    );
    expect(r).toMatchObject({ value: SECRET, mode: '400', uid: 1001, write: 'EROFS', env: false });
    expect(r['init']).not.toBe('found');
    const inspect = JSON.stringify(await container(alpha).inspect());
    expect(inspect).not.toContain(SECRET);
    // Another sandbox searches its whole filesystem for the value (the search's own command
    // line is under /proc, which is skipped).
    const search = await execIn(container(beta), ['sh', '-c', `grep -rIls --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -e "$1" /; true`, 'sh', SECRET], 60_000);
    expect(search.stdout.trim()).toBe('');
    expect((await execIn(container(beta), ['ls', '/run/secrets'])).exitCode).not.toBe(0);
  });
});

describe('isolation: network', () => {
  it('cannot reach any host port through any host address, except the bus on the gateway', async () => {
    const wellKnown = [22, 80, 443, 2375, 2376, 3000, 5432, 6379, 8080, 8222];
    for (const addr of [gateway, ...hostAddresses()]) {
      const res = await scanFrom(container(alpha), addr, [...hostPorts, ...wellKnown], 1500);
      for (const [port, r] of Object.entries(res)) expect(r, `${addr}:${port}`).not.toBe('connected');
    }
    expect((await tcpFrom(container(alpha), gateway, busPort)).r).toBe('connected');
  });

  it('cannot reach the internet: a host the machine routes to gets nothing from a sandbox', async () => {
    // The "outside" host is a namespace of this test, routed from the host (a veth pair);
    // the host itself reaches it (control), a sandbox does not: our FORWARD guard rejects it.
    expect(await remote.reachableFromHost(remote.address, 443)).toBe(true);
    const before = remote.seen.length;
    const out = await tcpFrom(container(alpha), remote.address, 443);
    expect(['ENETUNREACH', 'EHOSTUNREACH']).toContain(out.r);
    expect(remote.seen.slice(before)).toEqual([]);
  });

  it('cannot reach a link-local "cloud metadata" address', async () => {
    const metadata = remote.extra[0]!;
    expect(await remote.reachableFromHost(metadata, 80)).toBe(true);
    const before = remote.seen.length;
    const out = await tcpFrom(container(alpha), metadata, 80);
    expect(out.r).not.toBe('connected');
    expect(remote.seen.slice(before)).toEqual([]);
  });

  it('cannot reach another agent directly', async () => {
    const betaIp = (await container(beta).inspect()).NetworkSettings.Networks[networkName(flock)]!.IPAddress;
    await execDetached(container(beta), ['node', '-e', "require('net').createServer(s=>s.end('hi')).listen(9100)"]);
    let self = '';
    for (let i = 0; i < 20 && self !== 'connected'; i++) {
      self = (await tcpFrom(container(beta), betaIp, 9100, 1000)).r; // control: the listener is up
      if (self !== 'connected') await new Promise((r) => setTimeout(r, 250));
    }
    expect(self).toBe('connected');
    expect((await tcpFrom(container(alpha), betaIp, 9100)).r).not.toBe('connected');
  });
});

/**
 * Issue 16: Docker's embedded DNS answered other sandboxes' container names and short ids on
 * the flock's network. Asked through the system resolver and straight at 127.0.0.11 (UDP and
 * TCP), nothing answers; the host, asked the same names, is the control that they exist.
 */
const DNS_PROBE = `
  const dns = require('dns');
  const r = new dns.promises.Resolver({ timeout: 1500, tries: 1 });
  r.setServers(['127.0.0.11']);
  const tcp = () => new Promise((done) => { const s = require('net').connect(53, '127.0.0.11'); s.on('connect', () => { s.destroy(); done('connected'); }); s.on('error', (e) => done(e.code)); setTimeout(() => { s.destroy(); done('timeout'); }, 2000); });
  (async () => {
    const out = {};
    for (const name of process.argv.slice(1)) {
      out[name] = {
        lookup: await dns.promises.lookup(name).then((a) => a.address, (e) => e.code),
        direct: await r.resolve4(name).then((a) => a.join(','), (e) => e.code),
      };
    }
    out.tcp53 = await tcp();
    console.log(JSON.stringify(out));
  })();
`;

async function dnsNamesOf(id: string): Promise<string[]> {
  const c = await container(id).inspect();
  return [c.Name.replace(/^\//, ''), c.Id.slice(0, 12)];
}

function expectNoAnswers(out: Record<string, unknown>, names: string[]): void {
  for (const n of names) {
    const got = out[n] as { lookup: string; direct: string };
    expect(got.lookup, n).not.toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(got.direct, n).not.toMatch(/^\d+\.\d+\.\d+\.\d+/);
  }
  expect(out['tcp53']).not.toBe('connected');
}

describe('isolation: names', () => {
  it('cannot resolve another sandbox’s container name or id through Docker’s embedded DNS, by any route', async () => {
    const names = await dnsNamesOf(beta);
    // Control: Docker's DNS does know these names on this network (asked from a plain
    // container on the same network, which the runtime did not make).
    const control = spawnSync('docker', ['run', '--rm', '--network', networkName(flock), '--entrypoint', 'node', IMAGE, '-e', DNS_PROBE, ...names], { encoding: 'utf8', timeout: 60_000 });
    const known = JSON.parse(control.stdout.trim().split('\n').pop() ?? '{}') as Record<string, { direct: string }>;
    expect(known[names[0]!]?.direct, control.stderr).toMatch(/^\d+\.\d+\.\d+\.\d+/);
    expectNoAnswers(await nodeProbe(container(alpha), DNS_PROBE, names), names);
  });
});

const containerLogs = async (id: string) => (await container(id).logs({ stdout: true, stderr: true, follow: false })).toString('utf8');
const gatePasses = (logs: string) => logs.split('network gate passed').length - 1;

describe('isolation: names, before the runtime closed them', () => {
  it('the agent starts nothing while Docker’s DNS is reachable in its namespace, and starts once it is closed', async () => {
    // A sandbox the runtime did not make (so nobody closes its DNS), with the gate the runtime sets.
    const id = `zeta-${rand(8)}`;
    const name = `${flock}-gate-${rand(6)}`;
    const run = spawnSync('docker', ['run', '-d', '--name', name, '--network', networkName(flock), '--user', '1001:1001', '--read-only', '--cap-drop', 'ALL',
      '-e', `AIFLOCK_INSTANCE_ID=${id}`, '-e', 'AIFLOCK_AGENT=zeta', '-e', `AIFLOCK_NATS_URL=nats://${gateway}:${busPort}`, '-e', 'AIFLOCK_HANDLERS=echo', '-e', 'AIFLOCK_NETWORK_GATE=127.0.0.11:53', IMAGE], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const c = docker.getContainer(name);
    const logs = async () => (await c.logs({ stdout: true, stderr: true, follow: false })).toString('utf8');
    try {
      await eventually(async () => /waiting: 127\.0\.0\.11:53 is still reachable/.test(await logs()), 'the agent waiting at its gate');
      // A negative can only be watched for a while: it is still held, nothing of it started.
      await new Promise((r) => setTimeout(r, 2000));
      expect(await logs()).not.toMatch(/network gate passed|instance zeta-\w+ starting/);
      expect((await c.inspect()).State.Running).toBe(true);
      // Closed the way the runtime does it: from outside, in its namespace.
      const pid = (await c.inspect()).State.Pid;
      const close = spawnSync('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', '-I', 'OUTPUT', '-d', '127.0.0.11/32', '-j', 'REJECT'], { encoding: 'utf8' });
      expect(close.status, close.stderr).toBe(0);
      // Both lines, in either order: the gate's goes to stderr and the runtime's to stdout, and
      // Docker reads the two pipes apart, so a busy machine can list the later one first.
      await eventually(async () => {
        const text = await logs();
        return /network gate passed/.test(text) && /instance zeta-\w+ starting/.test(text);
      }, 'the agent starting once its DNS is closed');
    } finally {
      await c.remove({ force: true }).catch(() => {});
    }
  });
});

describe('isolation: resource exhaustion', () => {
  it('a fork bomb is contained by the pids limit; the sandbox, the host and this process stay fine', async () => {
    const before = await container(alpha).inspect();
    const bomb = await forkBomb(container(alpha));
    expect(bomb.stderr).toMatch(/fork/i);
    const { baseline, peak, left } = bomb;
    expect(peak).toBeGreaterThan(baseline); // it did fork
    expect(peak).toBeLessThanOrEqual(64); // never past the pids limit
    expect(left).toBeLessThanOrEqual(baseline); // and it can be stopped: nothing of it is left
    const after = await container(alpha).inspect();
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).toBe(before.State.Pid);
    expect(after.RestartCount).toBe(before.RestartCount);
    expect(spawnSync('true').status).toBe(0); // the host can still start processes
    // Once the bomb is gone the sandbox works again.
    let alive = '';
    for (let i = 0; i < 20 && alive !== 'alive'; i++) {
      alive = (await execIn(container(alpha), ['node', '-e', 'console.log("alive")']).catch(() => ({ stdout: '' }))).stdout.trim();
      if (alive !== 'alive') await new Promise((r) => setTimeout(r, 500));
    }
    expect(alive).toBe('alive');
  });

  it('a memory balloon is OOM-killed inside its limit; Docker reports the OOM for the instance', async () => {
    const events: string[] = [];
    const unwatch = runtime.watch((e) => events.push(`${e.kind}:${e.instanceId}`));
    try {
      await new Promise((r) => setTimeout(r, 300)); // the event stream is open
      const r = await execIn(container(alpha), ['node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1));'], 60_000);
      expect(r.exitCode).toBe(137); // SIGKILL from the kernel's OOM killer
      for (let i = 0; i < 40 && events.length === 0; i++) await new Promise((res) => setTimeout(res, 250));
      expect(events).toContain(`oom:${alpha}`);
      expect((await container(alpha).inspect()).State.Running).toBe(true);
    } finally {
      unwatch();
    }
  });

  it('when the agent itself is OOM-killed, the restart policy brings the instance back and the OOM is reported', async () => {
    const gamma = `gamma-${rand(8)}`;
    await runtime.start(spec('gamma', gamma));
    await eventually(async () => gatePasses(await containerLogs(gamma)) === 1, 'the agent passing its network gate');
    const events: string[] = [];
    const unwatch = runtime.watch((e) => events.push(`${e.kind}:${e.instanceId}`));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const before = await container(gamma).inspect();
      // Make the agent runtime the OOM killer's choice (raising one's own user's
      // oom_score_adj needs no privilege), then let a balloon fill the memory.
      await execIn(container(gamma), [
        'node',
        '-e',
        `const fs = require('fs');
         for (const p of fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d))) {
           // "node <flags> /opt/aiflock/agent.mjs": the path as an argument of its own (this script mentions it too)
           try { if (fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').split('\\0').includes('/opt/aiflock/agent.mjs')) fs.writeFileSync('/proc/' + p + '/oom_score_adj', '1000'); } catch {}
         }
         const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1));`,
      ]).catch(() => undefined); // the exec dies with the container
      let after = await container(gamma).inspect();
      for (let i = 0; i < 80 && !(after.RestartCount > before.RestartCount && after.State.Running); i++) {
        await new Promise((r) => setTimeout(r, 250));
        after = await container(gamma).inspect();
      }
      expect(after.RestartCount).toBeGreaterThan(before.RestartCount);
      expect(after.State.Running).toBe(true);
      expect(after.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 5 });
      for (let i = 0; i < 40 && !events.includes(`oom:${gamma}`); i++) await new Promise((r) => setTimeout(r, 250));
      expect(events).toContain(`oom:${gamma}`);
      // Restarted by Docker in a new network namespace, with no reconcile pass (nothing calls
      // list()): the runtime closes Docker's DNS on the start event, and the agent starts
      // nothing before that (its network gate). Probed as soon as the new start passed it.
      await eventually(async () => gatePasses(await containerLogs(gamma)) === 2, 'the restarted agent passing its network gate');
      const names = await dnsNamesOf(beta);
      expectNoAnswers(await nodeProbe(container(gamma), DNS_PROBE, names), names);
    } finally {
      unwatch();
      await runtime.remove(gamma);
    }
  });

  it('a CPU spin does not starve a neighbour', async () => {
    // Work done by beta in a fixed window, alone and while alpha spins on both of this machine's cores.
    const COUNT = `const end = Date.now() + 3000; let n = 0; while (Date.now() < end) { for (let i = 0; i < 1e5; i++) n++; } console.log(JSON.stringify({ n }));`;
    const alone = await nodeProbe<{ n: number }>(container(beta), COUNT);
    for (let i = 0; i < 2; i++) await execDetached(container(alpha), ['timeout', '-s', 'KILL', '12', 'node', '-e', 'for(;;){}']);
    await new Promise((r) => setTimeout(r, 500));
    const contended = await nodeProbe<{ n: number }>(container(beta), COUNT);
    // alpha is capped at 0.5 cpu: beta keeps most of its own half. Generous bound: the
    // machine is shared with other work.
    expect(contended.n / alone.n).toBeGreaterThan(0.3);
  });
});
