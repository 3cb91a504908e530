import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
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
/** A `lifecycle: job` agent: no VM until a task comes, a fresh one per task, none after (three at once: one per job task of the tests). */
const JOB = 'vmjob';
let idleBefore: AgentView;
let jobDone: string;
let jobCancelled: string;
let jobTimedOut: string | undefined;
/** The timed-out task's timeout: long enough for its guest to boot and start it (see beforeAll). */
let jobTimeoutMs = 0;
/** The timed-out task seen running in its guest, its VM provisioned; watched from its queueing on. */
let timedOutRun: Promise<TaskView | Error>;
let jobsQueuedAt = 0;
const CLI = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js');

const task = async (type: string, input: string): Promise<TaskView> => {
  const r = await flock.cli(['task', 'run', AGENT, '--type', type, '--input', input, '--wait', '--json'], { timeoutMs: 300_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TaskView;
};
const stdout = (t: TaskView) => (t.output as { stdout: string }).stdout;
/**
 * Long waits poll the API, not the CLI: a CLI process every 250 ms would take a core from
 * the guests booting meanwhile under software emulation. What a user does stays on the CLI.
 */
const agentView = async (name: string) => (await flock.api(`/v1/agents/${name}`)).body as AgentView;
const taskView = async (id: string) => (await flock.api(`/v1/tasks/${id}`)).body as TaskView;
const queueJob = async (input: string, ...opts: string[]) => (await flock.cliJson<TaskView>(['task', 'run', JOB, '--type', 'shell', '--input', input, ...opts])).id;

/** `aiflock secret set NAME` with the value on stdin, as a user pipes it. */
const secretSet = (name: string, input: string) =>
  new Promise<{ code: number; stderr: string }>((done) => {
    const child = spawn(process.execPath, [CLI, 'secret', 'set', name], { env: flock.env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.on('close', (code) => done({ code: code ?? 1, stderr }));
  });


/* What the job tests look at, on the host. */
/** Every QEMU of an instance: its argv names the instance's own config share. */
const qemuOf = (instanceId: string) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`/vms/${instanceId}/config`);
      } catch {
        return false; // gone meanwhile
      }
    });
/** Its cgroup, in whichever hierarchy this host mounts (v2, or v1 with one per controller). */
const cgroupsOf = (instanceId: string) =>
  [join('/sys/fs/cgroup', `aiflock-${flock.name}`, instanceId), ...['memory', 'pids', 'cpu', 'freezer'].map((c) => join('/sys/fs/cgroup', c, `aiflock-${flock.name}`, instanceId))].filter((d) =>
    existsSync(d),
  );
const mountPoints = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter(Boolean);
/** The loop devices behind the volumes (the log volume's image is `<instance>.ext4`, the workspace's `<agent>.ext4`). */
const loopsBacking = (image: string) =>
  readdirSync('/sys/block')
    .filter((d) => d.startsWith('loop'))
    .filter((d) => {
      try {
        return readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').includes(`/${image}`);
      } catch {
        return false; // not attached
      }
    });
const logVolume = (instanceId: string) => join(vmDir, 'shared', 'logs', instanceId);
/** While its task runs: its QEMU, its cgroup and its log volume (so that their absence after means something). */
const provisioned = (instanceId: string) => {
  expect(qemuOf(instanceId)).toHaveLength(1);
  expect(cgroupsOf(instanceId).length).toBeGreaterThan(0);
  expect(mountPoints()).toContain(logVolume(instanceId));
  expect(loopsBacking(`${instanceId}.ext4`)).toHaveLength(1);
};
/** The task running in its own guest, as `task get` shows it. */
const runningInVm = async (taskId: string, timeoutMs: number) => {
  await eventually(async () => {
    const v = await taskView(taskId);
    return v.status !== 'queued' || null;
  }, `task ${taskId} taken by a job VM`, timeoutMs);
  const v = await flock.cliJson<TaskView>(['task', 'get', taskId]);
  expect(v.status, `task ${taskId}: ${v.error ?? ''}`).toBe('running');
  expect(v.instanceId).toMatch(new RegExp(`^${JOB}-`));
  return v;
};

beforeAll(async () => {
  const image = execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-vm-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  // A host port the guest must not reach: loopback, which QEMU's unrestricted user network maps to 10.0.2.2.
  trapPort = await freePort();
  trap = createServer((s) => (trapHits++, s.destroy()));
  await new Promise<void>((r) => trap.listen(trapPort, '127.0.0.1', r));
  // "The internet": a namespace this test owns, listening, that the host itself can reach.
  remote = await remoteHost();
  await remote.serve([443, 80]);
  // The "internet" host is in a special-purpose range: only an admin may allow it, by CIDR.
  flock = await testFlock({ env: { AIFLOCK_EGRESS_PRIVATE_CIDRS: 'admin' } });
  vmDir = `/var/lib/aiflock-${flock.name}-vm`;
  flock.env['AIFLOCK_RUNTIME'] = 'vm';
  flock.env['AIFLOCK_VM_IMAGE_DIR'] = image;
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
  const set = await secretSet('tok', SECRET);
  expect(set.code, set.stderr).toBe(0);
  const file = join(flock.home, `${AGENT}.agent.yaml`);
  await writeFile(file, `name: ${AGENT}\nhandlers: [echo, shell]\ntools: { shell: true }\nresources: { memory: ${MEMORY_MIB}Mi, cpu: ${CPUS} }\nnetwork: { egress: ["${remote.address}/32"] }\nsecrets:\n  - { name: tok, file: true }\n`);
  // The job agent first, with no task yet: no VM (checked in its test).
  const jobFile = join(flock.home, `${JOB}.agent.yaml`);
  await writeFile(jobFile, `name: ${JOB}\nhandlers: [shell]\ntools: { shell: true }\nlifecycle: job\nreplicas: 3\nresources: { memory: 256Mi, cpu: 1, taskTimeout: 30m }\n`);
  const job = await flock.cli(['agent', 'deploy', jobFile]);
  expect(job.code, job.stderr).toBe(0);
  idleBefore = await flock.cliJson<AgentView>(['agent', 'get', JOB]);
  const dep = await flock.cli(['agent', 'deploy', file]);
  expect(dep.code, dep.stderr).toBe(0);
  // The long-lived guest boots alone: under software emulation a boot takes about a core, and
  // the job guests below boot while its tests run instead of slowing its boot.
  await eventually(async () => (await agentView(AGENT)).status === 'running', `${AGENT} running in its VM`, 600_000);
  // The job tasks: their guests boot while the long-lived guest's tests run (two at once; the
  // timed-out task's comes later, see the first job test, and has the third replica slot).
  jobsQueuedAt = Date.now();
  jobDone = await queueJob('echo "$AIFLOCK_INSTANCE_ID"; env | grep -ci proxy; (echo | nc -w 4 10.0.2.101 3128 >/dev/null 2>&1 && echo open || echo closed)');
  jobCancelled = await queueJob('sleep 600');
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
    // And `aiflock status`, as a person reads it: which one, and why (here: no usable /dev/kvm).
    const st = await flock.cli(['status']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/^runtime: +ok - vm runtime \(QEMU guests, (KVM: \/dev\/kvm opens read-write|software emulation \(TCG, slow\): \/dev\/kvm[^)]*)\)/m);
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

  it('egress goes through the proxy only: the allowed host answers, others and the host itself are refused, and the direct way stays shut', async () => {
    const before = remote.seen.length;
    // node as the client (busybox's static wget crashes in this guest), one node for the three
    // requests (each start of node costs seconds under software emulation): status and body on one
    // line each. A connection per request (agent: false), as three clients would: node's default
    // keep-alive reused the socket the proxy had closed after its answer ("socket hang up").
    const client = 'const p = new URL(process.env.HTTP_PROXY); const get = (u) => new Promise((ok) => require("http").get({ host: p.hostname, port: p.port, path: u, headers: { host: new URL(u).host }, agent: false }, (r) => { let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => ok(r.statusCode + " " + b.split("\\n")[0])); }).on("error", (e) => ok("error " + e.message))); (async () => { for (const u of process.argv.slice(1)) console.log(await get(u)); })()';
    const t = await task('shell', [
      'echo "$HTTP_PROXY"',
      `node -e '${client}' http://${remote.address}/from-vm http://not-listed.invalid/ http://127.0.0.1:${trapPort}/`,
      `(echo | nc -w 4 ${remote.address} 80 >/dev/null 2>&1 && echo open || echo closed)`,
    ].join('; '));
    expect(t.status).toBe('completed');
    const [proxy, allowed, unlisted, host, direct] = stdout(t).trim().split('\n');
    expect(proxy).toBe('http://10.0.2.101:3128');
    expect(allowed).toBe('200 upstream says hi to /from-vm');
    expect(unlisted).toMatch(/^403 /);
    expect(host).toMatch(/^403 /);
    expect(direct).toBe('closed');
    // The one request that arrived came through the proxy (from the host), not from the guest's own stack.
    expect(remote.seen.slice(before).filter((e) => e.kind === 'request')).toEqual([expect.objectContaining({ url: '/from-vm', from: remote.hostAddress })]);
    expect(trapHits).toBe(0);
    const log = await flock.logShowing(`egress allowed: GET ${remote.address}:80`);
    expect(log).toMatch(/egress denied: GET not-listed\.invalid:80/);
  }, 600_000);

  it('a host process that dials the guests\' proxy relay is not taken for the instance: closed unread, nothing goes out', async () => {
    const [inst] = (await flock.cliJson<AgentView>(['agent', 'get', AGENT])).instances;
    const args = readFileSync(`/proc/${Number(inst!.containerId)}/cmdline`, 'utf8');
    const relayPort = Number(/guestfwd=tcp:10\.0\.2\.101:3128-cmd:\S+ nc 127\.0\.0\.1 (\d+)/.exec(args)?.[1]);
    expect(relayPort).toBeGreaterThan(0);
    const before = remote.seen.length;
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const c = createConnection(relayPort, '127.0.0.1', () => c.write(`GET http://${remote.address}/stolen HTTP/1.1\r\nHost: ${remote.address}\r\n\r\n`));
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('error', () => {});
      c.on('close', () => resolve(got));
    });
    expect(answer).toBe('');
    await flock.logShowing(/egress relay: a connection from 127\.0\.0\.1:\d+ is no guest's: closed/);
    expect(remote.seen.slice(before)).toEqual([]);
  }, 120_000);

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

  describe('lifecycle: job (a VM per task)', () => {
    /** No QEMU of it, its directory, cgroup, log volume and loop device gone, and not listed. */
    const torndown = async (instanceId: string) => {
      // Everything of it goes after its removal is logged (the volume last): wait for all of it.
      const left = () => [
        ...qemuOf(instanceId).map((p) => `QEMU pid ${p}`),
        ...(existsSync(join(vmDir, 'vms', instanceId)) ? ['its directory'] : []),
        ...cgroupsOf(instanceId),
        ...mountPoints().filter((p) => p === logVolume(instanceId)),
        ...loopsBacking(`${instanceId}.ext4`),
      ];
      await eventually(async () => left().length === 0, `${instanceId}'s VM torn down`, 120_000).catch((err: Error) => {
        throw new Error(`${err.message}; still there: ${left().join(', ')}`);
      });
      // Its agent reports the task's end and stops (its job ended), or, for a task cancelled or
      // timed out meanwhile, the reconciler sees an idle guest with no task left first.
      await flock.logShowing(new RegExp(`removing instance ${instanceId}: (its job ended|no job left for it)`));
      const a = await flock.cliJson<AgentView>(['agent', 'get', JOB]);
      expect(a.instances.filter((i) => i.id === instanceId)).toEqual([]);
    };
    it('no VM until a task comes; the task runs in a fresh one (no proxy: its agent has no egress rules), and none is left after', async () => {
      expect(idleBefore.status).toBe('running');
      expect(idleBefore.instances).toEqual([]);
      await eventually(async () => (await taskView(jobDone)).status !== 'queued', 'a job VM to take the task', 600_000);
      // A task's deadline runs from when it is queued, and the timed-out task's must pass while it
      // runs in its guest, so after that guest's boot: twice the boot this one just took, under
      // the same load, with room to spare (its guest starts at once, in a replica slot of its
      // own). This only sizes the deadline: the test waits on states.
      jobTimeoutMs = 2 * (Date.now() - jobsQueuedAt) + 30_000;
      const id = await queueJob('sleep 600', '--timeout', `${Math.ceil(jobTimeoutMs / 1000)}s`);
      const deadline = Date.parse((await taskView(id)).deadline);
      // Caught running, its VM there, whenever that happens (the tests between do not delay it):
      // taken by its fresh guest before its deadline, so it runs when the deadline passes.
      timedOutRun = (async () => {
        const running = await runningInVm(id, Math.max(1_000, deadline - Date.now()));
        provisioned(running.instanceId!);
        return running;
      })().catch((err: Error) => err);
      jobTimedOut = id;
      await eventually(async () => ['completed', 'failed'].includes((await taskView(jobDone)).status), 'the job task finished', 120_000);
      const view = await flock.cliJson<TaskView>(['task', 'get', jobDone]);
      expect(view.status, view.error ?? '').toBe('completed');
      expect(stdout(view).trim().split('\n')).toEqual([view.instanceId, '0', 'closed']);
      expect(view.instanceId).toMatch(new RegExp(`^${JOB}-`));
      await torndown(view.instanceId!);
    }, 700_000);

    it('a cancelled task\'s VM is torn down too', async () => {
      const running = await runningInVm(jobCancelled, 600_000);
      provisioned(running.instanceId!);
      const c = await flock.cli(['task', 'cancel', jobCancelled, '--json']);
      expect(c.code, c.stderr).toBe(0);
      expect((JSON.parse(c.stdout) as TaskView).status).toBe('cancelled');
      await torndown(running.instanceId!);
    }, 700_000);

    it('a task whose deadline passes while it runs ends timed_out, and its VM is torn down: no QEMU, cgroup or volume of it left', async () => {
      if (!jobTimedOut) throw new Error('the timed-out task was not queued (the completed job test failed before it)');
      const timedOut = jobTimedOut;
      // Seen running in its guest, with its QEMU, cgroup and log volume, before its deadline.
      const running = await timedOutRun;
      if (running instanceof Error) throw running;
      const id = running.instanceId!;
      const ended = await eventually(async () => {
        const v = await taskView(timedOut);
        return v.status !== 'running' ? v : null;
      }, 'the task to end at its deadline', jobTimeoutMs + 120_000);
      expect(ended.status, ended.error ?? '').toBe('timed_out');
      // Reported by the agent in the guest (its deadline timer killed the command), or by the
      // daemon's sweeper if the guest said nothing: either way after it ran, and at its deadline.
      expect(ended.error).toMatch(/^deadline reached while running$|^deadline .* passed$/);
      expect(ended.startedAt).not.toBeNull();
      await torndown(id);
      // The last job guest gone: no instance of the agent, and its workspace volume released too.
      await eventually(async () => (await agentView(JOB)).instances.length === 0, `no ${JOB} instance left`, 120_000);
      // Waited for, not looked at once: the record goes before the runtime's removal ends, and
      // the mount leaves the mount table before the kernel has shut its file system down and
      // let go of the loop device (ext4 flushes its journal in between, slow under load).
      const workspaceLeft = () => [
        ...mountPoints().filter((p) => p === join(vmDir, 'shared', 'agents', JOB)),
        ...loopsBacking(`${JOB}.ext4`),
      ];
      await eventually(async () => workspaceLeft().length === 0, `${JOB}'s workspace volume released`, 60_000).catch((err: Error) => {
        throw new Error(`${err.message}; still there: ${workspaceLeft().join(', ')}`);
      });
      const cli = await flock.cli(['task', 'get', timedOut, '--json']);
      expect(cli.code, cli.stderr).toBe(0);
      expect((JSON.parse(cli.stdout) as TaskView).status).toBe('timed_out');
    }, 900_000);
  });

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
