import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * What the control plane does when instances misbehave (issue 4): a task that keeps killing
 * whoever runs it is dead-lettered with the reason after maxAttempts deliveries, and an
 * instance that stops heartbeating is marked unhealthy and replaced, its task redelivered.
 */
let flock: TestFlock;

const manifest = (name: string, extra = '') => `
name: ${name}
handlers: [shell]
tools: { shell: true }
replicas: 1
maxAttempts: 2
heartbeat: { interval: 1s }
${extra}`;

const deploy = async (name: string) => {
  const r = await flock.api('/v1/agents', { method: 'POST', body: { manifest: manifest(name), filename: `${name}.agent.yaml` } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  await eventually(async () => ((await flock.api(`/v1/agents/${name}`)).body as AgentView).replicas.ready === 1 || undefined, `${name} ready`, 120_000);
};

const run = async (agent: string, script: string) => {
  const r = await flock.api('/v1/tasks', { method: 'POST', body: { agent, type: 'shell', input: script } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (r.body as TaskView).id;
};

beforeAll(async () => {
  flock = await testFlock();
  flock.env['AIFLOCK_TASK_ACK_WAIT_MS'] = '3000';
  // Autoscaling at test speed: a pass every half second, replicas fall after 4 s of a low queue.
  flock.env['AIFLOCK_AUTOSCALE_INTERVAL_MS'] = '500';
  flock.env['AIFLOCK_AUTOSCALE_DOWN_WINDOW_MS'] = '4000';
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await flock?.cleanup();
});

describe('delivery under misbehaving instances', () => {
  it('dead-letters a task that kills every instance that runs it, saying why', async () => {
    await deploy('crasher');
    // The handler's parent is the agent runtime: this takes the whole instance down mid-task.
    const id = await run('crasher', 'kill -9 $PPID; sleep 5');
    const t = await eventually(async () => {
      const task = (await flock.api(`/v1/tasks/${id}`)).body as TaskView;
      return task.status === 'dead_lettered' ? task : undefined;
    }, 'the task to be dead-lettered', 180_000);
    expect(t.error).toMatch(/^dead-lettered: delivered 2 times \(maxAttempts 2\)/);
    expect(t.attempt).toBe(2);
    // The flock keeps working: the instance is back (restart policy) and runs the next task.
    const next = await run('crasher', 'echo alive');
    const done = await eventually(async () => {
      const task = (await flock.api(`/v1/tasks/${next}`)).body as TaskView;
      return task.status === 'completed' ? task : undefined;
    }, 'the next task', 120_000);
    expect((done.output as { stdout: string }).stdout.trim()).toBe('alive');
    const listed = await flock.cliJson<{ tasks: TaskView[] }>(['task', 'list', '--status', 'dead_lettered']);
    expect(listed.tasks.map((x) => x.id)).toContain(id);
    // In /metrics: the dead letter, and the next task's run time under its agent and outcome.
    const metrics = (await flock.api('/metrics')).body as string;
    expect(metrics).toMatch(/^aiflock_bus_messages_total\{kind="dead_letter"\} 1$/m);
    expect(metrics).toMatch(/^aiflock_bus_messages_total\{kind="result"\} [1-9]/m);
    expect(metrics).toMatch(/^aiflock_task_duration_seconds_count\{agent="crasher",status="completed"\} 1$/m);
    expect(metrics).toMatch(/^aiflock_bus_messages_total\{kind="heartbeat"\} [1-9]/m);
  }, 300_000);

  it('replaces an instance that stops heartbeating and redelivers its task', async () => {
    await deploy('sleeper');
    const before = ((await flock.api('/v1/agents/sleeper')).body as AgentView).instances.map((i) => i.id);
    // Freeze the runtime (its heartbeats stop) while its task is in flight.
    const id = await run('sleeper', 'if [ -e /shared/agents/sleeper/froze ]; then echo second; else touch /shared/agents/sleeper/froze; kill -STOP $PPID; fi');
    const done = await eventually(async () => {
      const task = (await flock.api(`/v1/tasks/${id}`)).body as TaskView;
      return task.status === 'completed' ? task : undefined;
    }, 'the task to finish on a replacement', 240_000);
    expect((done.output as { stdout: string }).stdout.trim()).toBe('second');
    expect(done.attempt).toBeGreaterThan(1);
    const after = ((await flock.api('/v1/agents/sleeper')).body as AgentView).instances;
    expect(after.some((i) => !before.includes(i.id))).toBe(true);
    const logs = (await flock.cli(['agent', 'logs', 'sleeper', '--tail', '200'])).stdout;
    expect(logs).toMatch(/missed its heartbeats|unhealthy/);
    // The replacement is a restart in /metrics.
    const metrics = (await flock.api('/metrics')).body as string;
    expect(metrics).toMatch(/^aiflock_instance_removals_total\{agent="sleeper",reason="missed its heartbeats"\} [1-9]/m);
  }, 300_000);
});

describe('autoscaling by queue depth', () => {
  it('a queue raises replicas to max, they fall back to min once it drains, and each change is audited', async () => {
    const surge = `name: surge\nhandlers: [shell]\ntools: { shell: true }\nheartbeat: { interval: 1s }\nscaling: { min: 1, max: 3, targetQueueDepth: 2 }\n`;
    expect((await flock.api('/v1/agents', { method: 'POST', body: { manifest: surge } })).status).toBe(201);
    await eventually(async () => ((await flock.api('/v1/agents/surge')).body as AgentView).replicas.ready === 1 || undefined, 'surge ready', 120_000);
    // Set by hand, the count would fight the autoscaler: refused, with what to do instead.
    const manual = await flock.api('/v1/agents/surge/scale', { method: 'POST', body: { replicas: 2 } });
    expect(manual.status).toBe(409);
    expect(manual.body.error).toMatchObject({ code: 'agent_autoscaled', details: { scaling: { min: 1, max: 3, targetQueueDepth: 2 } } });

    // The tasks hold until the test opens the gate (a file in the agent's workspace), so the
    // queue stays deep however long new replicas take to start on a loaded machine.
    const gate = join(flock.home, 'shared', 'agents', 'surge', 'go');
    const ids = await Promise.all(Array.from({ length: 10 }, () => run('surge', 'until [ -e go ]; do sleep 0.2; done; echo done')));
    const peak = await eventually(async () => {
      const a = (await flock.api('/v1/agents/surge')).body as AgentView;
      return a.replicas.desired === 3 && a.replicas.ready === 3 ? a : undefined;
    }, 'three ready replicas', 180_000);
    expect(peak.replicas.desired).toBe(3);
    await writeFile(gate, '');
    for (const id of ids) {
      await eventually(async () => ((await flock.api(`/v1/tasks/${id}`)).body as TaskView).status === 'completed' || undefined, `task ${id}`, 180_000);
    }
    await eventually(async () => {
      const a = (await flock.api('/v1/agents/surge')).body as AgentView;
      return a.replicas.desired === 1 && a.replicas.running === 1 ? a : undefined;
    }, 'back to one replica', 120_000);

    const audit = (await flock.api('/v1/audit?action=agent.autoscale&resource=agent/surge')).body as { entries: { actor: string; details: { from: number; to: number; queueDepth: number } }[] };
    const steps = [...audit.entries].reverse().map((e) => [e.details.from, e.details.to]);
    expect(steps[0]![0]).toBe(1);
    expect(steps.at(-1)).toEqual([expect.any(Number), 1]);
    expect(Math.max(...steps.map(([, to]) => to!))).toBe(3);
    for (const e of audit.entries) expect(e.actor).toBe('system:autoscaler');
    const logs = await flock.cli(['agent', 'logs', 'surge']);
    expect(logs.stdout).toMatch(/autoscaled from 1 to [23] replicas: queue depth \d+, target 2 per replica/);
  }, 400_000);
});
