import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { deployYaml, upFlock } from '../testkit/agents.js';
import { execIn } from '../testkit/docker.js';

/*
 * Lifecycle defects operators met (issue 21): release after a long quarantine must resume
 * the same instance, and removing an agent must end its queued and running tasks at once.
 */
const docker = new Dockerode();
let flock: TestFlock;

const containerOf = async (instanceId: string) => {
  const [c] = await docker.listContainers({ all: true, filters: { label: [`aiflock.flock=${flock.name}`, `aiflock.instance=${instanceId}`] } });
  return c ? docker.getContainer(c.Id) : null;
};
const queue = (agent: string, command: string) => flock.cliJson<TaskView>(['task', 'run', agent, '--type', 'shell', '--input', command, '--json']);
const taskOf = (id: string) => flock.cliJson<TaskView>(['task', 'get', id, '--json']);

beforeAll(async () => {
  flock = await testFlock();
  await upFlock(flock);
  // Heartbeats every half second: a quarantine of a few seconds is many missed heartbeats.
  await deployYaml(flock, 'sleeper', 'handlers: [shell]\ntools: { shell: true }\nheartbeat: { interval: 500ms }\n');
  await deployYaml(flock, 'busy', 'handlers: [shell]\ntools: { shell: true }\nconcurrency: 1\n');
});

afterAll(async () => {
  await flock?.cleanup();
});

describe('agent release after a long quarantine', () => {
  it('resumes the same instance with its processes, rather than replacing it', async () => {
    const before = await flock.cliJson<AgentView>(['agent', 'get', 'sleeper', '--json']);
    const instance = before.instances.find((i) => i.status === 'running')!;
    const container = (await containerOf(instance.id))!;
    // A process started before the quarantine, which only the same sandbox still has.
    await execIn(container, ['sh', '-c', 'sleep 3600 >/dev/null 2>&1 & echo $! > /tmp/marker.pid']);
    const pid = (await execIn(container, ['cat', '/tmp/marker.pid'])).stdout.trim();

    expect((await flock.cliJson<AgentView>(['agent', 'quarantine', 'sleeper', '--json'])).status).toBe('quarantined');
    // Ten heartbeat intervals frozen, then a reconcile pass (every 5 s by default) while frozen.
    await new Promise((r) => setTimeout(r, 6_000));
    await flock.cliJson<AgentView>(['agent', 'release', 'sleeper', '--json']);

    const resumed = await eventually(async () => {
      const a = await flock.cliJson<AgentView>(['agent', 'get', 'sleeper', '--json']);
      return a.status === 'running' ? a : null;
    }, 'sleeper running again');
    // Two more reconcile passes: a replacement would show by now.
    await new Promise((r) => setTimeout(r, 11_000));
    const later = await flock.cliJson<AgentView>(['agent', 'get', 'sleeper', '--json']);
    expect(later.instances.filter((i) => i.status !== 'exited').map((i) => i.id)).toEqual([instance.id]);
    expect(resumed.instances.map((i) => i.id)).toContain(instance.id);
    expect(later.status).toBe('running');
    const same = (await containerOf(instance.id))!;
    expect((await same.inspect()).State.Running).toBe(true);
    expect((await execIn(same, ['sh', '-c', `kill -0 ${pid} && echo alive`])).stdout.trim()).toBe('alive');
    const removed = (await flock.cli(['agent', 'logs', 'sleeper', '--tail', '100'])).stdout;
    expect(removed).not.toContain('instance removed');
  });
});

describe('agent remove', () => {
  it("cancels the agent's running and queued tasks, saying why", async () => {
    const running = await queue('busy', 'sleep 600');
    await eventually(async () => ((await taskOf(running.id)).status === 'running' ? true : null), 'the first task running');
    const queued = await queue('busy', 'echo never');
    expect((await taskOf(queued.id)).status).toBe('queued');

    const r = await flock.cli(['agent', 'remove', 'busy']);
    expect(r.code, r.stderr).toBe(0);
    for (const id of [running.id, queued.id]) {
      const t = await taskOf(id);
      expect(t.status, id).toBe('cancelled');
      expect(t.error).toMatch(/agent "busy" was removed/);
    }
  });
});
