import Dockerode from 'dockerode';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, LogLine, SystemStatus, TaskView } from '@aiflock/protocol';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { mountsUnder } from '../testkit/mounts.js';

/**
 * The whole flock, as a user drives it: the real CLI starts the real daemon, which spawns
 * nats-server and runs agents in Docker, storing state in SQLite.
 */
const docker = new Dockerode();
let flock: TestFlock;

const containersOf = async (agent?: string) =>
  docker.listContainers({
    all: true,
    filters: { label: [`aiflock.flock=${flock.name}`, ...(agent ? [`aiflock.agent=${agent}`] : [])] },
  });

/** Processes in every container of an agent whose command line contains `needle`. */
async function processesMatching(agent: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const c of await containersOf(agent)) {
    if (c.State !== 'running') continue;
    const top = await docker.getContainer(c.Id).top({ ps_args: '-eo pid,args' });
    for (const p of top.Processes ?? []) if (p.join(' ').includes(needle)) found.push(`${c.Id.slice(0, 12)}: ${p.join(' ')}`);
  }
  return found;
}

async function waitTask(id: string, until: (t: TaskView) => boolean, what: string): Promise<TaskView> {
  return eventually(async () => {
    const r = await flock.api(`/v1/tasks/${id}`);
    return until(r.body as TaskView) ? (r.body as TaskView) : null;
  }, what);
}

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  expect(up.stdout).toContain('aiflock is up');
  expect(up.stdout).toContain('aiflock down');
});

afterAll(async () => {
  await flock?.cleanup();
});

describe('aiflock up', () => {
  it('reports a healthy daemon, bus, store, runtime and enforced network isolation', async () => {
    const s = await flock.cliJson<SystemStatus>(['status']);
    expect(s.apiUrl).toBe(flock.apiUrl);
    for (const check of ['store', 'bus', 'runtime', 'isolation']) expect(s.checks[check], check).toMatchObject({ ok: true });
    expect((await flock.api('/readyz')).status).toBe(200);
    expect((await flock.api('/healthz')).body).toEqual({ ok: true });
  });

  it('deployed the three demo agents from examples/ and the three villagers from examples/village/, all ready', async () => {
    const agents = await eventually(async () => {
      const list = await flock.cliJson<AgentView[]>(['agent', 'list']);
      return list.length === 6 && list.every((a) => a.status === 'running') ? list : null;
    }, 'six running demo agents');
    expect(agents.map((a) => a.name).sort()).toEqual(['baker', 'echo', 'gardener', 'greeter', 'scholar', 'shell']);
    expect(agents.find((a) => a.name === 'shell')!.replicas).toMatchObject({ desired: 2, ready: 2 });
    const containers = await containersOf();
    expect(containers.filter((c) => c.State === 'running')).toHaveLength(7);
  });

  it('is safe to run twice', async () => {
    const again = await flock.cli(['up'], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('already running');
    expect(again.stderr).toContain('already deployed: echo');
    expect((await containersOf()).filter((c) => c.State === 'running')).toHaveLength(7);
  });
});

describe('tasks through the bus', () => {
  it('runs an echo task and shows result, logs and status via CLI and HTTP API', async () => {
    const run = await flock.cli(['task', 'run', 'echo', '--input', '{"hello":"flock"}', '--wait', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const t = JSON.parse(run.stdout) as TaskView;
    expect(t).toMatchObject({ status: 'completed', agent: 'echo', type: 'echo', output: { hello: 'flock' }, attempt: 1 });
    expect(t.instanceId).toMatch(/^echo-[a-z0-9]{8}$/);
    expect(JSON.parse(t.result!)).toEqual({ hello: 'flock' });

    const viaApi = await flock.api(`/v1/tasks/${t.id}`);
    expect(viaApi.body).toMatchObject({ id: t.id, status: 'completed' });
    const listed = await flock.cliJson<{ tasks: TaskView[] }>(['task', 'list', '--agent', 'echo']);
    expect(listed.tasks.map((x) => x.id)).toContain(t.id);

    const logs = (await flock.cli(['task', 'logs', t.id, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as LogLine);
    expect(logs.some((l) => l.msg.includes('started'))).toBe(true);
    expect(logs.some((l) => l.msg.includes('completed'))).toBe(true);
    // Following a finished task's logs prints them and ends by itself.
    const followed = await flock.cli(['task', 'logs', t.id, '-f', '--json']);
    expect(followed.code).toBe(0);
    expect(followed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as LogLine).seq)).toEqual(logs.map((l) => l.seq));
    const agentLogs = await flock.cli(['agent', 'logs', 'echo', '--tail', '50']);
    expect(agentLogs.stdout).toContain('instance ready');

    const human = await flock.cli(['task', 'get', t.id]);
    expect(human.stdout).toContain('status:   completed');
  });

  it('runs a shell task inside the hardened sandbox', async () => {
    const script = 'id -u; touch /pwned 2>/dev/null && echo ROOT-WRITABLE || echo root-read-only; echo hi > /shared/agents/shell/note && cat /shared/agents/shell/note';
    const t = await flock.cliJson<TaskView>(['task', 'run', 'shell', '--type', 'shell', '--input', script, '--wait']);
    expect(t.status).toBe('completed');
    const out = t.output as { stdout: string; exitCode: number };
    expect(out.exitCode).toBe(0);
    expect(out.stdout.split('\n').slice(0, 3)).toEqual(['1001', 'root-read-only', 'hi']);
  });

  it('reports a failing command as a failed task with its output', async () => {
    const r = await flock.cli(['task', 'run', 'shell', '--type', 'shell', '--input', 'echo oops >&2; exit 3', '--wait', '--json']);
    expect(r.code).toBe(5);
    const t = JSON.parse(r.stdout) as TaskView;
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/exit code 3/);

    // Every tool run is in the tamper-evident audit log: who ran it, how it ended, and a
    // digest that ties the entry to the job's input.
    const entry = await eventually(async () => {
      const page = await flock.cliJson<{ entries: { actor: string; outcome: string; details: Record<string, unknown> }[] }>(['audit', 'search', '--action', 'tool.run', '--resource', `task/${t.id}`, '--json']);
      return page.entries[0];
    }, 'the tool.run audit entry');
    expect(entry.actor).toBe(`instance:${t.instanceId}`);
    expect(entry.outcome).toBe('error');
    expect(entry.details).toMatchObject({ agent: 'shell', type: 'shell', status: 'failed', exitCode: 3, inputSha256: createHash('sha256').update(JSON.stringify(t.input)).digest('hex') });
  });

  it('honours Idempotency-Key: same key and body is the same task, another body is refused', async () => {
    const body = { agent: 'echo', input: 'once' };
    const a = await flock.api('/v1/tasks', { method: 'POST', body, headers: { 'idempotency-key': 'e2e-key-1' } });
    const b = await flock.api('/v1/tasks', { method: 'POST', body, headers: { 'idempotency-key': 'e2e-key-1' } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    const c = await flock.api('/v1/tasks', { method: 'POST', body: { agent: 'echo', input: 'twice' }, headers: { 'idempotency-key': 'e2e-key-1' } });
    expect(c.status).toBe(409);
    expect(c.body.error).toMatchObject({ code: 'idempotency_conflict' });
    await waitTask(a.body.id, (t) => t.status === 'completed', 'the idempotent task to complete');
    const all = await flock.api('/v1/tasks?agent=echo&limit=500');
    expect((all.body.tasks as TaskView[]).filter((t) => t.idempotencyKey === 'e2e-key-1')).toHaveLength(1);
  });

  it('cancels a running shell task and stops its process', async () => {
    const t = await flock.cliJson<TaskView>(['task', 'run', 'shell', '--type', 'shell', '--input', 'sleep 317']);
    await waitTask(t.id, (x) => x.status === 'running', 'the sleep task to start');
    await eventually(async () => (await processesMatching('shell', 'sleep 317')).length > 0, 'sleep 317 in a sandbox');
    const cancelled = await flock.cliJson<TaskView>(['task', 'cancel', t.id]);
    expect(cancelled.status).toBe('cancelled');
    await eventually(async () => (await processesMatching('shell', 'sleep 317')).length === 0, 'the sleep process to be killed', 15_000);
    await eventually(async () => {
      const { lines } = (await flock.api(`/v1/tasks/${t.id}/logs`)).body as { lines: LogLine[] };
      return lines.some((l) => /reported cancelled/.test(l.msg));
    }, 'the instance to confirm the cancellation');
    const again = await flock.cli(['task', 'cancel', t.id]);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('already cancelled');
  });

  it('times out a task at its deadline and stops its process', async () => {
    const run = flock.cli(['task', 'run', 'shell', '--type', 'shell', '--input', 'sleep 318', '--timeout', '4s', '--wait', '--json']);
    await eventually(async () => (await processesMatching('shell', 'sleep 318')).length > 0, 'sleep 318 in a sandbox');
    const r = await run;
    expect(r.code).toBe(5);
    expect((JSON.parse(r.stdout) as TaskView).status).toBe('timed_out');
    await eventually(async () => (await processesMatching('shell', 'sleep 318')).length === 0, 'the timed-out process to be killed', 15_000);
  });
});

describe('bad input changes nothing', () => {
  it('refuses a bad manifest, naming the field, value and expectation', async () => {
    const file = join(flock.home, 'bad.agent.yaml');
    await writeFile(file, 'name: bad\nresources:\n  memory: lots\nreplica: 2\n');
    const r = await flock.cli(['agent', 'deploy', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"resources.memory": got "lots"');
    expect(r.stderr).toContain('"replica"');
    expect((await flock.api('/v1/agents/bad')).status).toBe(404);
  });

  it('refuses an operator-profile manifest on a flock without an operator engine, saying why, and deploys nothing', async () => {
    const file = join(flock.home, 'rooted.agent.yaml');
    await writeFile(file, 'name: rooted\nprofile: operator\nhandlers: [shell]\ntools: { shell: true }\n');
    const r = await flock.cli(['agent', 'deploy', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/profile "operator" is refused on this node: no operator engine is configured \(runtime\.operatorEngine or AIFLOCK_OPERATOR_ENGINE\); it is never run as another profile/);
    expect((await flock.api('/v1/agents/rooted')).status).toBe(404);
  });

  it('answers invalid API requests with a stable error envelope and request id', async () => {
    const cases: [string, { method?: string; body?: unknown }, number, string][] = [
      ['/v1/tasks', { method: 'POST', body: { agent: 'echo', input: 1, surprise: true } }, 400, 'validation_failed'],
      ['/v1/tasks', { method: 'POST', body: '{not json' }, 400, 'validation_failed'],
      ['/v1/tasks', { method: 'POST', body: { agent: 'nosuch', input: 1 } }, 404, 'agent_not_found'],
      ['/v1/tasks', { method: 'POST', body: { agent: 'echo', type: 'shell', input: 'id' } }, 400, 'unsupported_task_type'],
      ['/v1/tasks/t_nosuchtaskxxxxxxxxxxxx', {}, 404, 'task_not_found'],
      ['/v1/tasks/not-an-id', {}, 400, 'validation_failed'],
      ['/v1/agents/echo/scale', { method: 'POST', body: { replicas: -1 } }, 400, 'validation_failed'],
      ['/v1/nope', {}, 404, 'not_found'],
    ];
    const before = (await flock.api('/v1/tasks?limit=500')).body.tasks.length;
    for (const [path, init, status, code] of cases) {
      const r = await flock.api(path, init);
      expect(r.status, `${path} ${JSON.stringify(init)}`).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.requestId).toMatch(/.+/);
      expect(r.body.error.message.length).toBeGreaterThan(5);
    }
    expect((await flock.api('/v1/tasks?limit=500')).body.tasks.length).toBe(before);
    const missing = await flock.cli(['task', 'run', 'nosuch', '--input', 'x']);
    expect(missing.code).toBe(3);
  });
});

describe('agent lifecycle', () => {
  it('scales up and down', async () => {
    await flock.cliJson(['agent', 'scale', 'echo', '2']);
    await eventually(async () => (await flock.cliJson<AgentView>(['agent', 'get', 'echo'])).replicas.ready === 2, 'two echo replicas');
    await flock.cliJson(['agent', 'scale', 'echo', '1']);
    await eventually(async () => (await containersOf('echo')).length === 1, 'echo back to one container');
  });

  it('replaces an instance whose container is removed behind its back', async () => {
    const [victim] = await containersOf('echo');
    await docker.getContainer(victim!.Id).remove({ force: true });
    const replaced = await eventually(async () => {
      const a = await flock.cliJson<AgentView>(['agent', 'get', 'echo']);
      const live = a.instances.filter((i) => i.status === 'running');
      return live.length === 1 && live[0]!.id !== victim!.Labels['aiflock.instance'] ? a : null;
    }, 'a new echo instance', 30_000);
    expect(replaced.status).toBe('running');
    expect((await flock.cliJson<TaskView>(['task', 'run', 'echo', '--input', 'again', '--wait'])).result).toBe('again');
    // What the host held for it (its log volume) is released, not left mounted until reboot.
    const victimLogs = join(flock.home, 'shared', 'logs', victim!.Labels['aiflock.instance']!);
    await eventually(async () => !mountsUnder(flock.home).includes(victimLogs), `${victimLogs} unmounted`, 30_000).catch(async (err: unknown) => {
      // Say why: the daemon logs a release that failed.
      const log = await readFile(join(flock.home, 'daemon.log'), 'utf8').catch(() => '');
      throw new Error(`${String(err)}\n${log.split('\n').filter((l) => l.includes(victim!.Labels['aiflock.instance']!)).join('\n')}`);
    });
  });

  it('keeps instances running across a daemon restart and adopts them', async () => {
    const before = (await flock.cliJson<AgentView>(['agent', 'get', 'greeter'])).instances.map((i) => i.id);
    const down = await flock.cli(['down', '--keep-agents']);
    expect(down.code, down.stderr).toBe(0);
    expect((await containersOf('greeter')).filter((c) => c.State === 'running')).toHaveLength(1);
    const up = await flock.cli(['up', '--no-demo']);
    expect(up.code, up.stderr).toBe(0);
    const after = await eventually(async () => {
      const a = await flock.cliJson<AgentView>(['agent', 'get', 'greeter']);
      return a.status === 'running' ? a : null;
    }, 'greeter running after the restart');
    expect(after.instances.map((i) => i.id)).toEqual(before);
    const t = await flock.cliJson<TaskView>(['task', 'run', 'greeter', '--input', 'still here?', '--wait']);
    expect(t.result).toBe('still here?');
  });

  it('stops and removes an agent with its containers', async () => {
    await flock.cliJson(['agent', 'stop', 'greeter']);
    await eventually(async () => (await containersOf('greeter')).length === 0, 'greeter containers removed');
    const refused = await flock.api('/v1/tasks', { method: 'POST', body: { agent: 'greeter', input: 1 } });
    expect(refused.body.error.code).toBe('agent_stopped');
    const rm = await flock.cli(['agent', 'remove', 'greeter']);
    expect(rm.code).toBe(0);
    expect((await flock.cli(['agent', 'get', 'greeter'])).code).toBe(3);
  });
});

describe('aiflock down', () => {
  it('stops every instance, NATS and the daemon, and clears the network', async () => {
    const { pid } = await flock.cliJson<SystemStatus>(['status']);
    // A volume whose instance went without being released (say its unmount failed then).
    const stray = join(flock.home, 'shared', 'logs', 'echo-stray000');
    await mkdir(stray, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', stray]);
    const down = await flock.cli(['down']);
    expect(down.code, down.stderr).toBe(0);
    expect(await containersOf()).toHaveLength(0);
    expect(() => process.kill(pid, 0)).toThrow();
    const networks = await docker.listNetworks({ filters: { name: [`aiflock-${flock.name}`] } });
    expect(networks).toHaveLength(0);
    // Workspace and log volumes are released, even one whose instance went without its removal.
    expect(mountsUnder(flock.home)).toEqual([]);
    const status = await flock.cli(['status']);
    expect(status.code).toBe(4);
  });

  it('after the daemon was killed, still stops what it left running: instances, NATS, volumes and the network', async () => {
    const up = await flock.cli(['up', '--no-demo']);
    expect(up.code, up.stderr).toBe(0);
    const deployed = await flock.cli(['agent', 'deploy', join(REPO_ROOT, 'examples', 'echo.agent.yaml')]);
    expect(deployed.code, deployed.stderr).toBe(0);
    await eventually(async () => (await containersOf('echo')).some((c) => c.State === 'running'), 'an echo container running');
    const natsPid = Number((await readFile(join(flock.home, 'nats', 'nats.pid'), 'utf8')).trim());
    // A daemon that is there but does not answer (stopped): down says so, and starts no second one.
    const { pid } = JSON.parse(await readFile(join(flock.home, 'daemon.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGSTOP');
    try {
      const hung = await flock.cli(['down']);
      expect(hung.code, hung.stdout).toBe(4);
      expect(hung.stderr).toMatch(new RegExp(`the daemon \\(pid ${pid}\\) is running but does not answer`));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Back to answering, and done with whatever the pause made it do, before it is killed.
    await eventually(async () => (await flock.cli(['status'])).code === 0 && (await containersOf('echo')).every((c) => c.State === 'running'), 'the daemon answering again, echo running');
    await new Promise((r) => setTimeout(r, 3_000));
    await flock.killDaemon();
    // What a dead daemon leaves: its sandboxes and its NATS server run on.
    expect(await containersOf()).not.toHaveLength(0);
    expect(() => process.kill(natsPid, 0)).not.toThrow();
    const down = await flock.cli(['down', '--json']);
    expect(down.code, down.stderr).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ running: false, stoppedFlock: true, restartedToStop: expect.stringMatching(/NATS server|did not stop cleanly/) });
    expect(await containersOf()).toHaveLength(0);
    await eventually(async () => {
      try {
        process.kill(natsPid, 0);
        return false;
      } catch {
        return true;
      }
    }, `nats-server ${natsPid} gone`);
    expect(await docker.listNetworks({ filters: { name: [`aiflock-${flock.name}`] } })).toHaveLength(0);
    expect(mountsUnder(flock.home)).toEqual([]);
    // Nothing is left now: another down says so, and starts nothing.
    const again = await flock.cli(['down', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ running: false });
  });
});

it('ships its README commands', async () => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  expect(readme).toMatch(/\.\/aiflock up/);
  expect(readme).toMatch(/scripts\/test\.sh/);
});
