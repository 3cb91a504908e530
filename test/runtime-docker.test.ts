import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '@aiflock/core';
import { DockerRuntime } from '../packages/daemon/src/adapters/runtimes/docker/docker-runtime.js';
import { bridgeInterfaceName, containerName, firewallChainNames, networkName } from '../packages/daemon/src/adapters/runtimes/docker/names.js';
import { ProfileRouter } from '../packages/daemon/src/adapters/runtimes/profile-router.js';
import { execDetached, execIn, nodeProbe } from '../testkit/docker.js';
import { freePort } from '../testkit/ports.js';
import { IMAGE, ensureImage, rand, tcpFrom } from './isolation/harness.js';

const MiB = 1024 ** 2;

const docker = new Dockerode();
const flock = `t${rand(6)}`;
const sharedDir = mkdtempSync(join(tmpdir(), 'aiflock-rt-'));
const logs: string[] = [];
const options = (busPort: number) => ({
  docker,
  flock,
  sharedDir,
  busPort,
  node: 'test-node',
  log: (level: string, msg: string) => void logs.push(`${level}: ${msg}`),
});

let runtime: DockerRuntime;
let gateway: string;
let busPort: number;
let otherPort: number;
const servers: Server[] = [];
const busPeers: string[] = [];

// A second flock on the same node: its sandboxes are "beyond the bridge" yet on this machine.
const flock2 = `${flock}x`;
let other: DockerRuntime;
const delta = `delta-${rand(8)}`;

const alpha = `alpha-${rand(8)}`;
const beta = `beta-${rand(8)}`;

function spec(agent: string, instanceId: string, rt: DockerRuntime = runtime): SandboxSpec {
  return {
    instanceId,
    agent,
    image: IMAGE,
    profile: 'restricted',
    env: {
      AIFLOCK_INSTANCE_ID: instanceId,
      AIFLOCK_AGENT: agent,
      AIFLOCK_NATS_URL: rt.busUrlForSandboxes(),
      AIFLOCK_HANDLERS: 'echo',
    },
    resources: { cpu: 0.5, memoryBytes: 256 * MiB, pids: 64, tmpBytes: 64 * MiB },
    manifestDigest: `sha256:${'ab'.repeat(32)}`,
  };
}

const container = (id: string, f = flock) => docker.getContainer(containerName(f, id));
const ipOf = async (id: string, f = flock) => (await container(id, f).inspect()).NetworkSettings.Networks[networkName(f)]!.IPAddress;

async function listen(host: string, port: number, onConn?: (s: Socket) => void): Promise<Server> {
  const srv = createServer((s) => {
    onConn?.(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, host, resolve));
  servers.push(srv);
  return srv;
}

const tcp = (id: string, host: string, port: number, ms = 2500, f = flock) => tcpFrom(container(id, f), host, port, ms);

beforeAll(async () => {
  ensureImage();
  await docker.getImage(IMAGE).inspect();

  busPort = await freePort();
  otherPort = await freePort();
  runtime = new DockerRuntime(options(busPort));
  await runtime.init();
  gateway = runtime.gatewayIp();
  await listen(gateway, busPort, (s) => busPeers.push(s.remoteAddress ?? ''));
  await listen(gateway, otherPort);

  // Planted by "another agent" before ours start: must stay invisible to alpha.
  mkdirSync(join(sharedDir, 'agents', 'gamma'), { recursive: true });
  writeFileSync(join(sharedDir, 'agents', 'gamma', 'secret.txt'), 'gamma only');
  writeFileSync(join(sharedDir, 'common', 'readme.txt'), 'for everyone');

  await runtime.start(spec('alpha', alpha));
  await runtime.start(spec('beta', beta));

  other = new DockerRuntime({ ...options(busPort), flock: flock2 });
  await other.init();
  await other.start(spec('delta', delta, other));
});

afterAll(async () => {
  for (const s of servers) s.close();
  await runtime?.dispose();
  await other?.dispose();
  rmSync(sharedDir, { recursive: true, force: true });
  for (const f of [flock, flock2]) {
    for (const chain of Object.values(firewallChainNames(f))) {
      expect(spawnSync('iptables', ['-w', '-S', chain]).status, `chain ${chain} left behind`).not.toBe(0);
    }
    await expect(docker.getNetwork(networkName(f)).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }
});

describe('docker runtime: setup', () => {
  it('enforces isolation and offers the bus on the gateway', () => {
    expect(runtime.isolation().enforced, runtime.isolation().detail).toBe(true);
    expect(runtime.busUrlForSandboxes()).toBe(`nats://${gateway}:${busPort}`);
  });

  it('init is idempotent: same gateway, one INPUT jump', async () => {
    const again = new DockerRuntime(options(busPort));
    await again.init();
    await again.init();
    expect(again.gatewayIp()).toBe(gateway);
    const input = spawnSync('iptables', ['-w', '-S', 'INPUT']).stdout.toString();
    const chains = firewallChainNames(flock);
    expect(input.split('\n').filter((l) => l.endsWith(`-j ${chains.input}`))).toEqual([`-A INPUT -i ${bridgeInterfaceName(flock)} -j ${chains.input}`]);
    const forward = spawnSync('iptables', ['-w', '-S', 'DOCKER-USER']).stdout.toString();
    expect(forward.split('\n').filter((l) => l.endsWith(`-j ${chains.forward}`))).toEqual([`-A DOCKER-USER -j ${chains.forward}`]);
    expect((await again.ping()).ok).toBe(true);
  });

  it('refuses the operator profile and creates nothing', async () => {
    const id = `alpha-${rand(8)}`;
    await expect(runtime.start({ ...spec('alpha', id), profile: 'operator' })).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(container(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('without an operator engine the profile router refuses the operator profile (never a downgrade) and still runs restricted ones', async () => {
    const router = new ProfileRouter(runtime, null);
    const id = `alpha-${rand(8)}`;
    await expect(router.start({ ...spec('alpha', id), profile: 'operator' })).rejects.toMatchObject({
      code: 'validation_failed',
      message: expect.stringMatching(/"operator" is refused on this node: no operator engine is configured .*never run as another profile/),
    });
    await expect(container(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(await router.operatorHealth()).toMatchObject({ ok: false });
    const ok = `alpha-${rand(8)}`;
    await router.start(spec('alpha', ok));
    expect((await container(ok).inspect()).State.Running).toBe(true);
    expect((await router.list()).map((s) => s.instanceId)).toContain(ok);
    await router.remove(ok);
    await expect(container(ok).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('docker runtime: hardening seen through the Docker API', () => {
  it('container config', async () => {
    const c = await container(alpha).inspect();
    const h = c.HostConfig;
    expect(c.State.Running).toBe(true);
    expect(c.Config.User).toBe('1001:1001');
    expect(h.ReadonlyRootfs).toBe(true);
    expect(h.CapDrop).toEqual(['ALL']);
    expect(h.CapAdd ?? []).toEqual([]);
    expect(h.SecurityOpt).toContain('no-new-privileges:true');
    expect(h.Privileged).toBe(false);
    expect(h.Memory).toBe(256 * MiB);
    expect(h.MemorySwap).toBe(256 * MiB);
    expect(h.NanoCpus).toBe(500_000_000);
    expect(h.PidsLimit).toBe(64);
    expect(h.Init).toBe(true);
    expect(h.Tmpfs).toMatchObject({ '/tmp': expect.stringContaining('noexec'), '/run': expect.stringContaining('noexec') });
    expect(h.PortBindings ?? {}).toEqual({});
    expect(h.PublishAllPorts).toBe(false);
    expect(c.NetworkSettings.Ports ?? {}).toEqual({});
    expect(Object.keys(c.NetworkSettings.Networks)).toEqual([networkName(flock)]);
    expect(c.Config.Labels).toMatchObject({
      'aiflock.managed': 'true',
      'aiflock.flock': flock,
      'aiflock.agent': 'alpha',
      'aiflock.instance': alpha,
      'aiflock.node': 'test-node',
      'aiflock.digest': `sha256:${'ab'.repeat(32)}`,
    });
    const mounts = c.Mounts.map((m) => ({ dst: m.Destination, rw: m.RW, src: m.Source })).sort((a, b) => a.dst.localeCompare(b.dst));
    expect(mounts).toEqual([
      { dst: '/shared/agents/alpha', rw: true, src: join(sharedDir, 'agents', 'alpha') },
      { dst: '/shared/common', rw: false, src: join(sharedDir, 'common') },
      { dst: `/shared/logs/${alpha}`, rw: true, src: join(sharedDir, 'logs', alpha) },
    ]);
  });

  it('network is internal with inter-container traffic off', async () => {
    const n = await docker.getNetwork(networkName(flock)).inspect();
    expect(n.Internal).toBe(true);
    expect(n.Options?.['com.docker.network.bridge.enable_icc']).toBe('false');
    expect(n.Options?.['com.docker.network.bridge.name']).toBe(bridgeInterfaceName(flock));
  });
});

describe('docker runtime: attacks from inside a sandbox', () => {
  it('runs as uid 1001', async () => {
    const r = await nodeProbe<{ uid: number; gid: number }>(container(alpha), 'console.log(JSON.stringify({uid:process.getuid(),gid:process.getgid()}))');
    expect(r).toEqual({ uid: 1001, gid: 1001 });
    const id = await execIn(container(alpha), ['sh', '-c', 'id -u 2>/dev/null || echo no-id']);
    if (!id.stdout.includes('no-id')) expect(id.stdout.trim()).toBe('1001');
  });

  it('filesystem: only /tmp, its workspace and its log are writable; other agents are invisible', async () => {
    const FS_PROBE = `
const fs = require('fs');
const w = (p) => { try { fs.writeFileSync(p, 'x', { flag: 'a' }); return 'ok'; } catch (e) { return e.code; } };
const ls = (p) => { try { return fs.readdirSync(p).sort(); } catch (e) { return e.code; } };
const rd = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return e.code; } };
const [agent, log] = process.argv.slice(1);
console.log(JSON.stringify({
  root: w('/pwned'), etc: w('/etc/pwned'), usr: w('/usr/bin/pwned'), tmp: w('/tmp/ok'), run: w('/run/ok'),
  common: w('/shared/common/pwned'), commonRead: rd('/shared/common/readme.txt'),
  workspace: w('/shared/agents/' + agent + '/ok'), log: w(log),
  shared: ls('/shared'), agents: ls('/shared/agents'), logs: ls('/shared/logs'),
  gamma: ls('/shared/agents/gamma'), gammaSecret: rd('/shared/agents/gamma/secret.txt'), sibling: w('/shared/agents/beta/pwned'),
  newLog: w('/shared/logs/beta-00000000.log'),
}));`;
    const r = await nodeProbe<Record<string, unknown>>(container(alpha), FS_PROBE, ['alpha', `/shared/logs/${alpha}/agent.log`]);
    expect(r).toMatchObject({
      root: 'EROFS', etc: 'EROFS', usr: 'EROFS', tmp: 'ok', run: 'ok',
      common: 'EROFS', commonRead: 'for everyone',
      workspace: 'ok', log: 'ok',
      shared: ['agents', 'common', 'logs'], agents: ['alpha'], logs: [alpha],
      gamma: 'ENOENT', gammaSecret: 'ENOENT', sibling: 'ENOENT', newLog: 'EROFS',
    });
    expect(readFileSync(join(sharedDir, 'agents', 'alpha', 'ok'), 'utf8')).toBe('x');
  });

  it('reaches the bus port on the gateway', async () => {
    expect((await tcp(alpha, gateway, busPort)).r).toBe('connected');
    expect(busPeers).toContain(await ipOf(alpha));
  });

  it('cannot reach any other host port through the gateway', async () => {
    expect((await tcp(alpha, gateway, otherPort)).r).toBe('timeout');
    expect((await tcp(alpha, gateway, 22, 1500)).r).toBe('timeout');
  });

  it('cannot reach another sandbox directly', async () => {
    const betaIp = await ipOf(beta);
    await execDetached(container(beta), ['node', '-e', "require('net').createServer(s=>s.end('hi')).listen(9000)"]);
    let self = '';
    for (let i = 0; i < 20 && self !== 'connected'; i++) {
      self = (await tcp(beta, betaIp, 9000, 1000)).r; // control: the listener is up
      if (self !== 'connected') await new Promise((r) => setTimeout(r, 250));
    }
    expect(self).toBe('connected');
    expect((await tcp(alpha, betaIp, 9000)).r).toBe('timeout');
  });

  it('has no route out and no IPv6', async () => {
    const r = await nodeProbe<{ routes: { dst: string; gw: string }[]; v6: string }>(
      container(alpha),
      `const fs=require('fs');
       const routes=fs.readFileSync('/proc/net/route','utf8').trim().split('\\n').slice(1).map(l=>l.split('\\t')).map(f=>({dst:f[1],gw:f[2]}));
       let v6=''; try { v6 = fs.readFileSync('/proc/net/if_inet6','utf8'); } catch (e) { v6 = ''; }
       console.log(JSON.stringify({routes, v6}));`,
    );
    expect(r.v6.trim()).toBe('');
    const hexIp = (ip: string) => Buffer.from(ip.split('.').map(Number).reverse()).toString('hex').toUpperCase();
    const defaults = r.routes.filter((x) => x.dst === '00000000');
    if (defaults.length === 0) {
      // Docker 25+: the kernel refuses before any packet exists (TEST-NET-1, never sent).
      const out = await tcp(alpha, '192.0.2.1', 80);
      expect(out.r).toBe('ENETUNREACH');
      expect(out.ms).toBeLessThan(500);
    } else {
      // Docker < 25 still routes internal networks via the gateway, i.e. into this host, where
      // the flock's FORWARD guard must reject. We do not aim at outside addresses to show it;
      // the next test aims at another flock's sandbox on this machine instead.
      expect(defaults.map((x) => x.gw)).toEqual([hexIp(gateway)]);
      const hook = spawnSync('iptables', ['-w', '-C', 'DOCKER-USER', '-j', firewallChainNames(flock).forward]);
      expect(hook.status, 'FORWARD guard missing').toBe(0);
    }
  });

  it('cannot reach beyond its bridge: another flock\'s sandbox and bus are out of reach', async () => {
    const out = await tcp(alpha, await ipOf(delta, flock2), 9000);
    expect(out.r).toBe('ENETUNREACH');
    expect(out.ms).toBeLessThan(1000);
    expect((await tcp(delta, gateway, busPort, 1500, flock2)).r).not.toBe('connected');
  });

  it('DNS goes nowhere', async () => {
    const dns = await nodeProbe<{ r: string }>(
      container(alpha),
      `require('dns').lookup('probe.invalid',(e,a)=>console.log(JSON.stringify({r:e?e.code:String(a)})))`,
      [],
      30_000,
    );
    expect(dns.r).not.toMatch(/^\d/);
  });

  it('contains a process burst at the pids limit and survives it', async () => {
    const before = await container(alpha).inspect();
    const r = await nodeProbe<{ ok: number; errs: Record<string, number> }>(
      container(alpha),
      `const { spawn } = require('child_process');
       const kids = []; let ok = 0; const errs = {};
       const bad = (e) => { errs[e.code] = (errs[e.code] || 0) + 1; };
       for (let i = 0; i < 120; i++) {
         try { const c = spawn('/bin/sh', ['-c', 'read x'], { stdio: ['pipe', 'ignore', 'ignore'] });
               c.on('spawn', () => ok++); c.on('error', bad); c.stdin.on('error', () => {}); kids.push(c); } catch (e) { bad(e); }
       }
       setTimeout(() => { for (const c of kids) { try { c.kill('SIGKILL'); } catch {} }
         console.log(JSON.stringify({ ok, errs })); process.exit(0); }, 2000);`,
    );
    expect(r.ok).toBeLessThan(64);
    expect(r.errs.EAGAIN ?? 0).toBeGreaterThan(0);
    const after = await container(alpha).inspect();
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).toBe(before.State.Pid);
    expect(after.RestartCount).toBe(before.RestartCount);
    expect((await execIn(container(alpha), ['node', '-e', 'console.log("alive")'])).stdout.trim()).toBe('alive');
  });
});

describe('docker runtime: lifecycle', () => {
  it('a restarted daemon finds running instances by label', async () => {
    const fresh = new DockerRuntime(options(busPort));
    const found = await fresh.list();
    const ids = found.map((i) => i.instanceId).sort();
    expect(ids).toEqual([alpha, beta].sort());
    for (const i of found) {
      expect(i).toMatchObject({ state: 'running', exitCode: null, oomKilled: false, node: 'test-node' });
      expect(i.startedAt).toMatch(/^\d{4}-/);
    }
  });

  it('stop, then remove; missing is fine', async () => {
    await runtime.stop(beta, 2000);
    const stopped = (await runtime.list()).find((i) => i.instanceId === beta);
    expect(stopped).toMatchObject({ state: 'exited', oomKilled: false });
    expect(stopped?.exitCode).not.toBeNull();
    await runtime.stop(beta, 2000);

    await runtime.remove(alpha);
    expect((await runtime.list()).map((i) => i.instanceId)).toEqual([beta]);
    await runtime.remove(alpha);
    await runtime.stop(alpha, 1000);
  });

  it('start replaces a leftover container with the same name', async () => {
    const first = (await runtime.list()).find((i) => i.instanceId === beta)!;
    const again = await runtime.start(spec('beta', beta));
    expect(again.handle).not.toBe(first.handle);
    expect(again.state).toBe('running');
  });
});

describe('docker runtime: teardown', () => {
  it('a container attached to the flock network by hand is cut off so the network, firewall and all still go', async () => {
    const flock3 = `${flock}d`;
    const third = new DockerRuntime({ ...options(busPort), flock: flock3 });
    await third.init();
    // Not the flock's: no labels, attached by someone else (or left when a daemon was killed mid-start).
    const stranger = await docker.createContainer({ Image: IMAGE, Entrypoint: ['node', '-e', 'setTimeout(() => {}, 120000)'], HostConfig: { NetworkMode: networkName(flock3) } });
    try {
      await stranger.start();
      logs.length = 0;
      await third.dispose();
      await expect(docker.getNetwork(networkName(flock3)).inspect()).rejects.toMatchObject({ statusCode: 404 });
      for (const chain of Object.values(firewallChainNames(flock3))) expect(spawnSync('iptables', ['-w', '-S', chain]).status, `chain ${chain} left behind`).not.toBe(0);
      // Left running (it is not the flock's to remove), but off the network, and the log says so.
      const after = await stranger.inspect();
      expect(after.State.Running).toBe(true);
      expect(Object.keys(after.NetworkSettings.Networks)).not.toContain(networkName(flock3));
      expect(logs.some((l) => l.startsWith('warn: disconnecting') && l.includes(networkName(flock3)))).toBe(true);
    } finally {
      await stranger.remove({ force: true });
      await third.dispose().catch(() => undefined);
    }
  });
});
