import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEgressRules, type SandboxEvent, type SandboxSpec } from '@aiflock/core';
import { EgressProxy, UNIX_CLIENT_PREFIX, type EgressEvent } from '../../packages/daemon/src/adapters/egress-proxy/egress-proxy.js';
import { containerName } from '../../packages/daemon/src/adapters/runtimes/docker/names.js';
import { OperatorRuntime } from '../../packages/daemon/src/adapters/runtimes/docker/operator-runtime.js';
import { execIn, nodeProbe } from '../../testkit/docker.js';
import { randomBenchmarkAddress, randomLinkLocal, remoteHost, type RemoteHost } from '../../testkit/netns.js';
import { freePort } from '../../testkit/ports.js';
import { FS_TRIES, HTTP_VIA_PROXY, IMAGE, OPERATOR_ENGINE, SECCOMP_REFUSALS, buildDeb, buildProbe, buildDpkgImage, buildOperatorProbe, ensureImage, forkBomb, rand, scanFrom, tcpFrom, withHostMarker } from './harness.js';

/*
 * Attacks from inside real operator sandboxes (root inside, on the user-namespace-remapped
 * operator engine) and the things the profile must still allow. Each attack must fail;
 * docs/security.md lists them with their results.
 */

const MiB = 1024 ** 2;
const main = new Dockerode();
const op = new Dockerode({ socketPath: OPERATOR_ENGINE });
const flock = `o${rand(6)}`;
const sharedDir = mkdtempSync(join(tmpdir(), 'aiflock-op-'));
const socketRoot = mkdtempSync(join(tmpdir(), 'aiflock-op-sock-'));
const secretsDir = mkdtempSync(join(tmpdir(), 'aiflock-op-secrets-'));
const SECRET = `op-secret-${rand(16)}`;
const DPKG_IMAGE = `aiflock-test/operator-dpkg:${rand(8)}`;
const alpha = `alpha-${rand(8)}`;
const beta = `beta-${rand(8)}`;
let runtime: OperatorRuntime;
let proxy: EgressProxy;
let busServer: Server;
let busPort: number;
/** The "repository" and "the internet": a namespace of this test, routed from the host. */
let remote: RemoteHost;
let upstreamIp: string;
const upstreamPort = 8080;
let hostIp: string;
let hostService: Server;
let hostServicePort: number;
let probePath: string;
/** The restricted suite's probe (fixtures/probe.c): its seccomp checks apply here too. */
let seccompProbePath: string;
const egress: EgressEvent[] = [];
const ooms: SandboxEvent[] = [];
let unwatch: () => void = () => {};
const container = (id: string) => op.getContainer(containerName(flock, id));

function spec(agent: string, instanceId: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    instanceId,
    agent,
    image: DPKG_IMAGE,
    profile: 'operator',
    env: { AIFLOCK_INSTANCE_ID: instanceId, AIFLOCK_AGENT: agent, AIFLOCK_NATS_URL: 'nats://172.31.0.1:4222', AIFLOCK_HANDLERS: 'echo' },
    resources: { cpu: 0.5, memoryBytes: 256 * MiB, pids: 64, tmpBytes: 8 * MiB },
    manifestDigest: `sha256:${'ef'.repeat(32)}`,
    ...over,
  };
}

beforeAll(async () => {
  ensureImage();
  try {
    await op.version();
  } catch (err) {
    throw new Error(`the operator engine does not answer at ${OPERATOR_ENGINE} (run scripts/bootstrap.sh --test or scripts/operator-engine.sh start): ${(err as Error).message}`);
  }
  buildDpkgImage(IMAGE, DPKG_IMAGE);
  probePath = buildOperatorProbe();
  seccompProbePath = buildProbe();

  // The "bus": whoever connects gets a banner, as a NATS server would send INFO.
  busPort = await freePort();
  busServer = createServer((s) => s.end('BUS-BANNER\n'));
  await new Promise<void>((r) => busServer.listen(busPort, '127.0.0.1', r));

  // A host service on every address, which a sandbox must not reach.
  hostServicePort = await freePort('0.0.0.0');
  hostService = createServer((s) => s.end('host service'));
  await new Promise<void>((r) => hostService.listen(hostServicePort, '0.0.0.0', r));

  // An "allow-listed repository" on a remote host (a namespace of this test): reachable by
  // the proxy, never directly from the sandbox (no interface at all). Its extra addresses
  // play an unlisted host and cloud metadata.
  remote = await remoteHost({ extra: [randomBenchmarkAddress(), randomLinkLocal()] });
  upstreamIp = remote.address;
  await remote.serve([upstreamPort, 443, 80]);
  hostIp = Object.values(networkInterfaces())
    .flatMap((a) => a ?? [])
    .find((a) => a.family === 'IPv4' && !a.internal)!.address;

  proxy = new EgressProxy({
    host: '127.0.0.1',
    port: await freePort(),
    // Only alpha, only by its socket: what the daemon's identify does for operator sandboxes.
    identify: async (address) =>
      address === `${UNIX_CLIENT_PREFIX}${alpha}` && runtime.has(alpha)
        ? { agent: 'alpha', instanceId: alpha, rules: parseEgressRules([`${upstreamIp}/32`]), credentialsFor: async () => ({ headers: {}, tls: false }) }
        : undefined,
    resolve: async (host) => (host === 'repo.allowed.test' ? [upstreamIp] : host === 'unlisted.test' ? [remote.extra[0]!] : []),
    log: (e) => egress.push(e),
  });
  await proxy.listen();

  runtime = new OperatorRuntime({ docker: op, socketPath: OPERATOR_ENGINE, imageSource: main, flock, node: 'iso', sharedDir, socketRoot, busHost: '127.0.0.1', busPort, proxy, secretsDir });
  await runtime.init();
  unwatch = runtime.watch((e) => ooms.push(e));

  mkdirSync(join(sharedDir, 'common'), { recursive: true });
  writeFileSync(join(sharedDir, 'common', 'notice.txt'), 'shared, read-only');
  // alpha has egress rules (the reconciler names a proxy only then) and a secret file.
  await runtime.start(spec('alpha', alpha, { env: { ...spec('alpha', alpha).env, HTTP_PROXY: 'http://172.31.0.1:3128' }, secretFiles: { tok: SECRET } }));
  await runtime.start(spec('beta', beta));
  writeFileSync(join(sharedDir, 'agents', 'beta', 'private.txt'), 'beta only');
  const ws = join(sharedDir, 'agents', 'alpha');
  copyFileSync(probePath, join(ws, 'oprobe'));
  chmodSync(join(ws, 'oprobe'), 0o755);
  copyFileSync(seccompProbePath, join(ws, 'probe'));
  chmodSync(join(ws, 'probe'), 0o755);
  buildDeb(ws, 'aiflock-hello', 'hello-from-a-deb');
}, 300_000);

afterAll(async () => {
  unwatch();
  await runtime?.dispose().catch(() => undefined);
  await proxy?.close().catch(() => undefined);
  busServer?.close();
  hostService?.close();
  await remote?.close();
  for (const engine of [op, main]) await engine.getImage(DPKG_IMAGE).remove({ force: true }).catch(() => undefined);
  for (const d of [sharedDir, socketRoot, secretsDir]) rmSync(d, { recursive: true, force: true });
  for (const p of [probePath, seccompProbePath]) if (p) rmSync(join(p, '..'), { recursive: true, force: true });
});

const sh = (id: string, script: string) => execIn(container(id), ['sh', '-c', script]);
/** Connects to the bus through the sandbox's socket and prints what the "bus" sent. */
const READ_BUS_SOCKET = `const s = require('net').connect('/run/aiflock-sockets/bus.sock'); let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => console.log(JSON.stringify({ got }))); s.on('error', (e) => console.log(JSON.stringify({ got: e.code })));`;

describe('operator profile: what it allows', () => {
  it('is root inside, with a writable root filesystem', async () => {
    const r = await sh(alpha, 'id -u; echo ok > /usr/local/bin/written && cat /usr/local/bin/written');
    expect(r.stdout.trim().split('\n')).toEqual(['0', 'ok']);
  });

  it('installs a package with dpkg and runs what it installed', async () => {
    const r = await sh(alpha, "dpkg -i /shared/agents/alpha/aiflock-hello.deb >/dev/null && aiflock-hello && dpkg-query -W -f '${Status}' aiflock-hello");
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['hello-from-a-deb', 'install ok installed']);
  });

  it('reaches the bus through its socket, and the agent runtime relays it to loopback', async () => {
    const viaSocket = await nodeProbe<{ got: string }>(
      container(alpha),
      READ_BUS_SOCKET,
    );
    expect(viaSocket.got).toBe('BUS-BANNER\n');
    const viaRelay = await nodeProbe<{ got: string }>(
      container(alpha),
      `const s = require('net').connect(4222, '127.0.0.1'); let got = ''; s.on('data', (d) => (got += d)); s.on('close', () => console.log(JSON.stringify({ got }))); s.on('error', (e) => console.log(JSON.stringify({ got: e.code })));`,
    );
    expect(viaRelay.got).toBe('BUS-BANNER\n');
  });

  it('its secret file is readable inside, and the value is not in the environment or inspect output', async () => {
    const r = await sh(alpha, 'cat /run/secrets/tok; echo; env');
    expect(r.stdout.split('\n')[0]).toBe(SECRET);
    expect(r.stdout.split('\n').slice(1).join('\n')).not.toContain(SECRET);
    expect(JSON.stringify(await container(alpha).inspect())).not.toContain(SECRET);
  });
});

describe('operator profile: attacks that must fail', () => {
  it('container root is not host root: its processes run as the remapped, unprivileged host uid', async () => {
    const root = runtime.hostRoot()!;
    expect(root.uid).toBeGreaterThan(0);
    const { State } = await container(alpha).inspect();
    const status = readFileSync(`/proc/${State.Pid}/status`, 'utf8');
    const uids = /^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
    const gids = /^Gid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
    expect(uids).toEqual([root.uid, root.uid, root.uid, root.uid]);
    expect(gids).toEqual([root.gid, root.gid, root.gid, root.gid]);
    // And every process of the sandbox, not just its first one.
    const top = await container(alpha).top({ ps_args: '-o pid,uid' });
    const col = top.Titles.indexOf('UID');
    expect(top.Processes.length).toBeGreaterThan(1); // docker-init and the agent runtime at least
    for (const p of top.Processes) expect(Number(p[col])).toBe(root.uid);
  });

  it('cannot gain what root in a user namespace must not have: raw sockets, mount, mknod, modules, open_by_handle, chroot, file capabilities, namespaces, hostname, reboot', async () => {
    const r = await execIn(container(alpha), ['/shared/agents/alpha/oprobe']);
    expect(JSON.parse(r.stdout.trim())).toEqual({
      uid: 0,
      rawSocket: 'EPERM',
      mount: 'EPERM',
      mknod: 'EPERM',
      initModule: 'EPERM',
      finitModule: 'EPERM',
      openByHandle: 'EPERM',
      chroot: 'EPERM',
      setfcap: 'EPERM',
      sethostname: 'EPERM',
      unshareUser: 'EPERM',
      unshareNet: 'EPERM',
      unshareMount: 'EPERM',
      kmsg: 'ENOENT',
      swapoff: 'EPERM',
      reboot: 'EPERM',
    });
  });

  it('cannot use what an agent never needs, even as root: ptrace of init, process_vm_readv, io_uring, userfaultfd, bpf, perf, keyrings, ICMP ping sockets', async () => {
    // Root in the sandbox owns its init, so only the flock's seccomp profile stands between
    // it and ptrace; ping_group_range "1 0" leaves no group (not even root's) a ping socket.
    const r = await execIn(container(alpha), ['/shared/agents/alpha/probe', '/shared/agents/alpha/probe']);
    expect(JSON.parse(r.stdout.trim().split('\n').pop() ?? '')).toMatchObject({ uid: 0, ...SECCOMP_REFUSALS });
    expect((await container(alpha).inspect()).State.Running).toBe(true);
  });

  it('cannot read host files, nor find a Docker socket', async () => {
    await withHostMarker(async (marker) => {
      const r = await nodeProbe<Record<string, string>>(
        container(alpha),
        `${FS_TRIES}
         console.log(JSON.stringify({
           marker: rd(process.argv[1]), viaInit: rd('/proc/1/root' + process.argv[1]), hostShadowViaInit: rd('/proc/1/root/etc/shadow'),
           dockerSock: rd('/var/run/docker.sock'), runDockerSock: rd('/run/docker.sock'), operatorSock: rd(process.argv[2]),
           sysrq: w('/proc/sysrq-trigger'), corePattern: w('/proc/sys/kernel/core_pattern'), modprobe: w('/proc/sys/kernel/modprobe'),
         }));`,
        [marker, OPERATOR_ENGINE],
      );
      expect(r).toMatchObject({ marker: 'ENOENT', viaInit: 'ENOENT', dockerSock: 'ENOENT', runDockerSock: 'ENOENT', operatorSock: 'ENOENT' });
      // /proc/1/root is the sandbox's own root: its /etc/shadow, if any, is the image's.
      expect(['ENOENT', 'read']).toContain(r['hostShadowViaInit']);
      for (const k of ['sysrq', 'corePattern', 'modprobe']) expect(r[k], k).toMatch(/^E(ROFS|ACCES|PERM|NOENT)$/);
    });
    // The image's shadow file, if it had one, is not the host's.
    const shadow = await sh(alpha, 'cat /etc/shadow 2>&1 || true');
    expect(shadow.stdout).not.toContain(readFileSync('/etc/shadow', 'utf8').split('\n')[0]);
  });

  it('has no network at all: not the internet, the host, the daemon API, another agent or cloud metadata', async () => {
    const ifaces = await sh(alpha, 'cat /proc/net/dev');
    const names = ifaces.stdout.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean);
    expect(names).toEqual(['lo']);
    const betaInfo = await container(beta).inspect();
    const targets: [string, number][] = [
      [upstreamIp, 443],
      [remote.extra[1]!, 80],
      [hostIp, hostServicePort],
      [upstreamIp, upstreamPort],
      ['172.17.0.1', 2375],
    ];
    expect(await remote.reachableFromHost(upstreamIp, 443)).toBe(true); // control: the "internet" is up
    const before = remote.seen.length;
    for (const [host, port] of targets) {
      const r = await tcpFrom(container(alpha), host, port, 1500);
      expect(r.r, `${host}:${port}`).toBe('ENETUNREACH');
    }
    expect(remote.seen.slice(before)).toEqual([]);
    // Its own loopback is its own: the host's services are not there.
    const scan = await scanFrom(container(alpha), '127.0.0.1', [hostServicePort, busPort, proxy.port], 1500);
    expect(Object.values(scan)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    expect(betaInfo.NetworkSettings.IPAddress).toBe('');
  });

  it('reaches an allow-listed host through the egress proxy socket, and not an unlisted one', async () => {
    const ok = await nodeProbe<{ status: number | string; body?: string }>(container(alpha), HTTP_VIA_PROXY, [`http://repo.allowed.test:${upstreamPort}/pool/x.deb`]);
    expect(ok).toEqual({ status: 200, body: 'upstream says hi to /pool/x.deb' });
    const denied = await nodeProbe<{ status: number | string }>(container(alpha), HTTP_VIA_PROXY, ['http://unlisted.test/']);
    expect(denied.status).toBe(403);
    const mine = egress.filter((e) => e.instanceId === alpha);
    expect(mine.map((e) => [e.host, e.allowed])).toEqual([
      ['repo.allowed.test', true],
      ['unlisted.test', false],
    ]);
    expect(mine[0]!.client).toBe(`${UNIX_CLIENT_PREFIX}${alpha}`);
  });

  it('an operator sandbox without egress rules has no proxy socket and no proxy settings', async () => {
    const r = await sh(beta, 'ls /run/aiflock-sockets; env | grep -i _proxy || echo no-proxy-env');
    expect(r.stdout.trim().split('\n')).toEqual(['bus.sock', 'no-proxy-env']);
  });

  it("cannot read or write another agent's folder, nor write /shared/common, even as root", async () => {
    const r = await nodeProbe<Record<string, unknown>>(
      container(alpha),
      `${FS_TRIES}
       console.log(JSON.stringify({ agents: ls('/shared/agents'), beta: ls('/shared/agents/beta'), betaFile: w('/shared/agents/beta/private.txt'),
         common: w('/shared/common/x'), commonExisting: w('/shared/common/notice.txt') }));`,
    );
    expect(r).toEqual({ agents: ['alpha'], beta: 'ENOENT', betaFile: 'ENOENT', common: 'EROFS', commonExisting: 'EROFS' });
    // Remounting read-write needs CAP_SYS_ADMIN, which it does not have.
    const remount = await sh(alpha, 'mount -o remount,rw /shared/common 2>&1; echo rc=$?');
    expect(remount.stdout).toMatch(/rc=[1-9]/);
  });

  it('its workspace on the host belongs to the remapped root, not to host root', () => {
    const st = statSync(join(sharedDir, 'agents', 'alpha'));
    expect([st.uid, st.gid]).toEqual([runtime.hostRoot()!.uid, runtime.hostRoot()!.gid]);
    expect(st.mode & 0o777).toBe(0o700);
  });

  it('a fork bomb is contained by the pids limit; the sandbox and this process stay fine', async () => {
    const before = await container(beta).inspect();
    // Root inside changes nothing: the pids cgroup is not the sandbox's to raise.
    const bomb = await forkBomb(container(beta));
    expect(bomb.stderr).toMatch(/fork/i);
    const { baseline, peak, left } = bomb;
    expect(peak).toBeGreaterThan(baseline);
    expect(peak).toBeLessThanOrEqual(64); // the pids limit of spec()
    expect(left).toBeLessThanOrEqual(baseline);
    const after = await container(beta).inspect();
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).toBe(before.State.Pid);
    const raise = await sh(beta, 'echo max > /sys/fs/cgroup/pids/pids.max 2>&1; echo rc=$?');
    expect(raise.stdout).toMatch(/rc=[1-9]/);
  });

  it('a memory balloon is OOM-killed inside its limit, and the operator engine reports the OOM', async () => {
    const r = await execIn(container(beta), ['node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(16 * 1024 * 1024, 1));'], 60_000);
    expect(r.exitCode).toBe(137);
    for (let i = 0; i < 50 && !ooms.some((e) => e.instanceId === beta); i++) await new Promise((res) => setTimeout(res, 200));
    expect(ooms).toContainEqual({ kind: 'oom', instanceId: beta, agent: 'beta' });
  });

  it('after quarantine it is frozen and its sockets are gone; release brings both back', async () => {
    await runtime.quarantine(alpha);
    expect((await container(alpha).inspect()).State.Paused).toBe(true);
    expect(() => statSync(join(socketRoot, alpha, 'bus.sock'))).toThrow();
    expect(runtime.has(alpha)).toBe(false);
    await runtime.release(alpha);
    expect((await container(alpha).inspect()).State.Paused).toBe(false);
    const r = await nodeProbe<{ got: string }>(
      container(alpha),
      READ_BUS_SOCKET,
    );
    expect(r.got).toBe('BUS-BANNER\n');
  });
});

describe('operator engine', () => {
  it("runs in a network namespace of its own, so it can never change the host's interfaces or firewall", () => {
    // A dockerd with --bridge=none deletes any docker0 it can see: the main engine's bridge.
    const pidFile = join(OPERATOR_ENGINE, '..', 'operator-dockerd.pid');
    const pid = readFileSync(pidFile, 'utf8').trim();
    expect(readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
  });
});

describe('operator profile: refusals', () => {
  it('runs the image the main engine has under a name, not an older one the operator engine kept under it', async () => {
    // The same name on both engines, two different images: a tag such as :latest moves with
    // every build, so the operator engine's copy must follow the main engine's.
    const [repo, tag] = [`aiflock-test/operator-moved`, rand(8)];
    const ref = `${repo}:${tag}`;
    await main.getImage(IMAGE).tag({ repo, tag });
    await op.getImage(DPKG_IMAGE).tag({ repo, tag });
    const id = `delta-${rand(8)}`;
    try {
      const [want, before] = [(await main.getImage(ref).inspect()).Id, (await op.getImage(ref).inspect()).Id];
      expect(before).not.toBe(want);
      await runtime.start(spec('delta', id, { image: ref }));
      expect((await op.getImage(ref).inspect()).Id).toBe(want);
      expect((await container(id).inspect()).Image).toBe(want);
    } finally {
      await runtime.remove(id).catch(() => undefined);
      for (const engine of [op, main]) await engine.getImage(ref).remove({ noprune: true }).catch(() => undefined);
    }
  });

  it('an engine that does not remap user namespaces is refused', async () => {
    const plain = new OperatorRuntime({ docker: main, socketPath: '/var/run/docker.sock', flock, node: 'iso', sharedDir, socketRoot, busHost: '127.0.0.1', busPort });
    await expect(plain.init()).rejects.toMatchObject({ code: 'runtime_unavailable', message: expect.stringMatching(/does not remap user namespaces/) });
    await expect(plain.start(spec('gamma', `gamma-${rand(8)}`))).rejects.toMatchObject({ code: 'runtime_unavailable' });
  });
});

