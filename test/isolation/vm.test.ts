import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../../testkit/flock.js';
import { remoteHost, type RemoteHost } from '../../testkit/netns.js';
import { freePort } from '../../testkit/ports.js';
import { rand } from './harness.js';

/*
 * The whole flock on the VM runtime (`runtime.kind: vm`): the real CLI, daemon, nats-server
 * and SQLite, each instance a QEMU guest (software emulation here: no /dev/kvm). One agent,
 * one booted guest for the whole file: booting under TCG is slow.
 */
let flock: TestFlock;
let vmDir: string;
let trap: Server;
let trapPort: number;
let trapHits = 0;
let remote: RemoteHost;
/** The manifest's resources, which the guest must see as its machine. */
const MEMORY_MIB = 384;
const CPUS = 2;
const SECRET = `vm-secret-${rand(20)}`;
const AGENT = 'vmkeeper';
const CLI = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js');

const task = async (type: string, input: string): Promise<TaskView> => {
  const r = await flock.cli(['task', 'run', AGENT, '--type', type, '--input', input, '--wait', '--json'], { timeoutMs: 300_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TaskView;
};
const stdout = (t: TaskView) => (t.output as { stdout: string }).stdout;

/** `aiflock secret set NAME` with the value on stdin, as a user pipes it. */
const secretSet = (name: string, input: string) =>
  new Promise<{ code: number; stderr: string }>((done) => {
    const child = spawn(process.execPath, [CLI, 'secret', 'set', name], { env: flock.env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.on('close', (code) => done({ code: code ?? 1, stderr }));
  });


beforeAll(async () => {
  const image = execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-vm-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  // A host port the guest must not reach: loopback, which QEMU's unrestricted user network maps to 10.0.2.2.
  trapPort = await freePort();
  trap = createServer((s) => (trapHits++, s.destroy()));
  await new Promise<void>((r) => trap.listen(trapPort, '127.0.0.1', r));
  // "The internet": a namespace this test owns, listening, that the host itself can reach.
  remote = await remoteHost();
  await remote.serve([443, 80]);
  flock = await testFlock();
  vmDir = `/var/lib/aiflock-${flock.name}-vm`;
  flock.env['AIFLOCK_RUNTIME'] = 'vm';
  flock.env['AIFLOCK_VM_IMAGE_DIR'] = image;
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
  const set = await secretSet('tok', SECRET);
  expect(set.code, set.stderr).toBe(0);
  const file = join(flock.home, `${AGENT}.agent.yaml`);
  await writeFile(file, `name: ${AGENT}\nhandlers: [echo, shell]\ntools: { shell: true }\nresources: { memory: ${MEMORY_MIB}Mi, cpu: ${CPUS} }\nsecrets:\n  - { name: tok, file: true }\n`);
  const dep = await flock.cli(['agent', 'deploy', file]);
  expect(dep.code, dep.stderr).toBe(0);
  await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', AGENT])).status === 'running', `${AGENT} running in its VM`, 600_000);
}, 900_000);

afterAll(async () => {
  await flock?.cleanup();
  trap?.close();
  await remote?.close();
  if (vmDir) rmSync(vmDir, { recursive: true, force: true });
});

describe('flock on the vm runtime (QEMU guests)', () => {
  it('says which acceleration it uses and why', async () => {
    const s = await flock.api('/v1/status');
    expect(s.body.checks.runtime.ok).toBe(true);
    expect(s.body.checks.runtime.detail).toMatch(/vm runtime \(QEMU guests, (KVM|software emulation \(TCG)/);
  });

  it('runs an echo task and a shell task end to end through the CLI', async () => {
    const e = await task('echo', 'hello from a vm');
    expect(e.status).toBe('completed');
    expect(JSON.stringify(e.output)).toContain('hello from a vm');
    const s = await task('shell', 'uname -r; cat /proc/1/comm');
    expect(s.status).toBe('completed');
    // Its own kernel (Debian's, not the host's view through a container) and its own init.
    expect(stdout(s)).toContain('amd64');
  }, 600_000);

  it('inside the guest: uid 1001, root not writable, the secret a 0400 file and never in the environment', async () => {
    const t = await task('shell', 'id -u; touch /probe 2>/dev/null && echo root-writable || echo root-readonly; stat -c %a /run/secrets/tok; sha256sum < /run/secrets/tok | cut -d" " -f1; env | grep -c vm-secret; true');
    expect(t.status).toBe('completed');
    const sha = createHash('sha256').update(SECRET).digest('hex');
    expect(stdout(t).trim().split('\n')).toEqual(['1001', 'root-readonly', '400', sha, '0']);
  }, 600_000);

  it('the workspace is the agent\'s own folder on the host, written as the sandbox user', async () => {
    const t = await task('shell', 'echo from-guest > "$AIFLOCK_WORKSPACE/note"; ls /shared/agents');
    expect(t.status).toBe('completed');
    expect(stdout(t).trim()).toBe(AGENT);
    const note = join(vmDir, 'shared', 'agents', AGENT, 'note');
    expect(readFileSync(note, 'utf8')).toBe('from-guest\n');
    expect(statSync(note).uid).toBe(1001);
  }, 600_000);

  it('the network reaches the bus and nothing else: not the host\'s loopback ports, the daemon API, DNS or the gateway', async () => {
    const api = new URL(flock.apiUrl).port;
    const probe = (addr: string, port: string | number) => `(echo | nc -w 4 ${addr} ${port} >/dev/null 2>&1 && echo open || echo closed)`;
    const t = await task('shell', [
      `printf 'PING\\r\\n' | nc -w 4 10.0.2.100 4222 | head -c 4; echo`,
      probe('10.0.2.2', trapPort),
      probe('10.0.2.2', api),
      probe('10.0.2.3', 53),
      probe('127.0.0.1', trapPort),
      'ip -4 route | wc -l',
    ].join('; '));
    expect(t.status).toBe('completed');
    expect(stdout(t).trim().split('\n')).toEqual(['INFO', 'closed', 'closed', 'closed', 'closed', '1']);
    expect(trapHits).toBe(0);
  }, 600_000);

  it('no internet: a host the machine itself reaches (a namespace of this test) gets nothing from the guest', async () => {
    expect(await remote.reachableFromHost(remote.address, 443)).toBe(true); // control: the "internet" is up
    const before = remote.seen.length;
    const probe = (port: number) => `(echo | nc -w 4 ${remote.address} ${port} >/dev/null 2>&1 && echo open || echo closed)`;
    const t = await task('shell', `${probe(443)}; ${probe(80)}`);
    expect(t.status).toBe('completed');
    expect(stdout(t).trim().split('\n')).toEqual(['closed', 'closed']);
    expect(remote.seen.slice(before)).toEqual([]);
  }, 600_000);

  it('the guest is the machine the manifest asked for: its vCPUs, and its memory on top of the in-RAM root', async () => {
    const t = await task('shell', 'nproc; grep MemTotal /proc/meminfo | tr -s " " | cut -d" " -f2');
    expect(t.status).toBe('completed');
    const [cpus, memKiB] = stdout(t).trim().split('\n').map(Number);
    expect(cpus).toBe(CPUS);
    // The guest gets the manifest's memory plus room for its root filesystem (held in RAM);
    // the kernel keeps some for itself, so MemTotal is below the sum but above what was asked.
    expect(memKiB! * 1024).toBeGreaterThan(MEMORY_MIB * 1024 * 1024);
    expect(memKiB! * 1024).toBeLessThan((MEMORY_MIB + 320) * 1024 * 1024);
  }, 600_000);

  it('QEMU itself is confined on the host: uid 1001, no capabilities, no_new_privs, its seccomp filter, the instance cgroup', async () => {
    const [inst] = (await flock.cliJson<AgentView>(['agent', 'get', AGENT])).instances;
    const pid = Number(inst!.containerId);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
    expect(field('Uid')!.split(/\s+/)).toEqual(['1001', '1001', '1001', '1001']);
    expect(field('CapEff')).toBe('0000000000000000');
    expect(field('CapBnd')).toBe('0000000000000000');
    expect(field('NoNewPrivs')).toBe('1');
    expect(field('Seccomp')).toBe('2'); // -sandbox on
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(cgroup).toContain(`aiflock-${flock.name}/${inst!.id}`);
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(args[args.indexOf('-sandbox') + 1]).toMatch(/^on,/);
    expect(args[args.indexOf('-smp') + 1]).toBe(String(CPUS));
  }, 600_000);

  // Last: it costs the shared guest. It waits for the replacement's QEMU, not its boot (another
  // couple of minutes under TCG that prove nothing more than the first boot did).
  it('killing QEMU is noticed like a dead container, and the instance is replaced', async () => {
    const before = await flock.cliJson<AgentView>(['agent', 'get', AGENT]);
    const [inst] = before.instances;
    // The instance's handle is its QEMU process (the launcher execs into it).
    const id = inst!.id;
    const pid = Number(inst!.containerId);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('qemu-system');
    process.kill(pid, 'SIGKILL');
    let replacement = 0;
    await eventually(async () => {
      const a = await flock.cliJson<AgentView>(['agent', 'get', AGENT]);
      const next = a.instances.find((i) => i.id !== id && i.containerId);
      replacement = Number(next?.containerId ?? 0);
      // The killed one stays listed as exited (with its exit code) next to its replacement.
      return a.instances.every((i) => i.id !== id || i.status === 'exited') && replacement > 0;
    }, 'a new instance replaced the killed VM', 300_000);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(readFileSync(`/proc/${replacement}/cmdline`, 'utf8')).toContain('qemu-system');
    await flock.logShowing(new RegExp(`removing instance ${id}: instance exited`));
  }, 400_000);
});
