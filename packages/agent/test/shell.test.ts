import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects, TaskResult, type AgentEvent, type ControlMessage } from '@aiflock/protocol';
import { defineAgent, echo, runAgent, shell, type AgentHandle, type ShellOutput } from '../src/index.js';
import { addQueue, Collector, enqueue, makeEnv, makeTask, newAgent, startPlane, type Plane } from './harness.js';

let plane: Plane;
let handle: AgentHandle;
let ids: { agent: string; instanceId: string };
let results: Collector<TaskResult>;
let events: Collector<AgentEvent>;

beforeAll(async () => {
  plane = await startPlane();
  ids = newAgent('shell');
  await addQueue(plane.jsm, ids.agent);
  results = new Collector<TaskResult>(plane.nc, subjects.results(ids.instanceId));
  events = new Collector<AgentEvent>(plane.nc, subjects.events(ids.instanceId));
  await plane.nc.flush();
  handle = runAgent(defineAgent({ handlers: { echo, shell } }), makeEnv(plane.server.url, ids, { AIFLOCK_CONCURRENCY: 4 }), {
    logToStdout: false,
    abortGraceMs: 5_000,
  });
  await handle.ready;
});
afterAll(async () => {
  await handle?.stop();
  results?.close();
  events?.close();
  await plane?.close();
});

async function run(data: unknown, over: Parameters<typeof makeTask>[3] = {}) {
  const task = makeTask(ids.agent, 'shell', data, over);
  await enqueue(plane.js, task);
  return { task, result: async (timeoutMs = 15_000) => TaskResult.parse(await results.wait((r) => r.taskId === task.id, timeoutMs, `result of ${task.id}`)) };
}

/** The first `n` stdout lines a task streamed as log events. */
async function stdoutLines(taskId: string, n: number): Promise<string[]> {
  const isLine = (ev: AgentEvent): boolean =>
    ev.type === 'log' && ev.taskId === taskId && (ev.data as { stream?: string } | undefined)?.stream === 'stdout';
  const got = await events.waitCount(isLine, n, 10_000, `${n} streamed stdout line(s)`);
  return got.slice(0, n).map((e) => (e.type === 'log' ? e.msg : ''));
}

async function firstLine(taskId: string): Promise<string> {
  return (await stdoutLines(taskId, 1))[0]!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  return true;
}

/** Gone, or a zombie waiting for whoever reaps orphans here: either way it no longer runs. */
async function notRunning(pid: number): Promise<boolean> {
  if (!alive(pid)) return true;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat === '' || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/**
 * Whether `pid` ends (gone, or a zombie left to its new parent) within `withinMs`. A killed
 * process closes its files before it finishes exiting, so the task's result (sent once the
 * pipes it held are closed) can arrive while it still shows as running: under load it was
 * caught so 2 times in 40. `withinMs` stays far below what the process would live unkilled
 * and within the test's own limit.
 */
async function ends(pid: number, withinMs = 3_000): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (!(await notRunning(pid))) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('shell handler', () => {
  it('captures stdout and stderr of a command string', async () => {
    const t = await run('echo out; echo err >&2');
    const r = await t.result();
    expect(r.status).toBe('completed');
    const out = r.output as ShellOutput;
    expect(out).toMatchObject({ exitCode: 0, signal: null, stderr: 'err\n', truncated: false });
    expect(out.stdout).toBe('out\n');
    expect(r.result).toBe('out\n');
  });

  it('accepts an object with cwd and env', async () => {
    const t = await run({ command: 'pwd; printf "%s" "$GREETING"', cwd: '/', env: { GREETING: 'hi' } });
    const r = await t.result();
    expect(r.status).toBe('completed');
    expect((r.output as ShellOutput).stdout).toBe('/\nhi');
  });

  it('fails a non-zero exit with the exit code and stderr tail, keeping the output', async () => {
    const t = await run('echo partial; echo "something broke" >&2; exit 3');
    const r = await t.result();
    expect(r.status).toBe('failed');
    expect(r.error).toBe('exit code 3: something broke');
    expect(r.output).toMatchObject({ exitCode: 3, stdout: 'partial\n', stderr: 'something broke\n' });
  });

  it('rejects invalid input with a clear error', async () => {
    const t = await run({ cmd: 'ls' });
    const r = await t.result();
    expect(r.status).toBe('failed');
    expect(r.error).toContain('invalid shell input');
    expect(r.error).toContain('command');
  });

  it('bounds captured output and says so', async () => {
    // 3 MiB of output against a 1 MiB capture limit.
    const t = await run('head -c 3145728 /dev/zero | tr "\\0" "a"');
    const r = await t.result(30_000);
    expect(r.status).toBe('completed');
    const out = r.output as ShellOutput;
    expect(out).toMatchObject({ exitCode: 0, truncated: true });
    // 1 MiB captured, then cut further so the whole result fits in one 1 MiB bus message.
    expect(out.stdout).toMatch(/^a+… \[truncated \d+ characters\]$/);
    expect(JSON.stringify(r).length).toBeLessThan(1024 * 1024);
  });

  it('cancels a running command via ctl.<id> and kills its whole process group', async () => {
    const t = await run('echo $$; sleep 30 & echo $!; wait');
    const [shellPid, sleepPid] = (await stdoutLines(t.task.id, 2)).map(Number) as [number, number];
    expect(shellPid).toBeGreaterThan(1);
    expect(alive(shellPid)).toBe(true);
    expect(alive(sleepPid)).toBe(true);

    const cancel: ControlMessage = { type: 'cancel', taskId: t.task.id, reason: 'user asked' };
    plane.nc.publish(subjects.control(ids.instanceId), JSON.stringify(cancel));
    const r = await t.result();
    expect(r.status).toBe('cancelled');
    expect(r.error).toBe('cancelled: user asked');
    expect(alive(shellPid)).toBe(false);
    // SIGTERM reached the whole group: sleep, the shell's child, ends now, not after its 30 s.
    expect(await ends(sleepPid)).toBe(true);
  });

  it('times out a running command at the task deadline', async () => {
    const t = await run('echo $$; sleep 30', { deadline: new Date(Date.now() + 2_500).toISOString() });
    const pid = Number(await firstLine(t.task.id));
    const r = await t.result();
    expect(r.status).toBe('timed_out');
    expect(r.error).toContain('deadline');
    expect(alive(pid)).toBe(false);
  });

  it('fails a command that exceeds its own timeoutMs', async () => {
    const t = await run({ command: 'echo $$; sleep 30', timeoutMs: 300 });
    const pid = Number(await firstLine(t.task.id));
    const r = await t.result();
    expect(r.status).toBe('failed');
    expect(r.error).toBe('command timed out after 300 ms');
    expect((r.output as ShellOutput).stdout).toBe(`${pid}\n`);
    expect(alive(pid)).toBe(false);
  });

  it('streams output lines as task log events', async () => {
    const t = await run('echo one; echo two');
    await t.result();
    expect(await stdoutLines(t.task.id, 2)).toEqual(['one', 'two']);
  });
});
