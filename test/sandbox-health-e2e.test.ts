import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, InstanceView } from '@aiflock/protocol';
import { execIn } from '../testkit/docker.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The sandbox's own health check (Docker HEALTHCHECK on the runtime's liveness file) in a
 * real sandbox: it turns healthy once the runtime runs, unhealthy when the runtime's process
 * is frozen (SIGSTOP from inside the sandbox), and healthy again when it is thawed; `docker
 * inspect` and `agent get` both say so. The reconciler runs only when poked here, so it does
 * not replace the frozen instance for its missed heartbeats before the check has spoken, and
 * what `agent get` shows comes from Docker's health events, not from a reconcile pass.
 */
const docker = new Dockerode();
let flock: TestFlock;
let instance: InstanceView;
let container: Dockerode.Container;

const dockerHealth = async () => (await container.inspect()).State.Health?.Status;
const shownHealth = async () => ((await flock.api('/v1/agents/pulse')).body as AgentView).instances.find((i) => i.id === instance.id)?.health;
/** The runtime is the child of the sandbox's init (Docker's tini as PID 1). */
const signalRuntime = async (sig: 'STOP' | 'CONT') => {
  const r = await execIn(container, ['sh', '-c', `kill -${sig} $(cat /proc/1/task/1/children)`]);
  expect(r.exitCode, r.stderr).toBe(0);
};

beforeAll(async () => {
  flock = await testFlock();
  await writeFile(join(flock.home, 'config.yaml'), 'reconcileIntervalMs: 3600000\n');
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  const file = join(flock.home, 'pulse.agent.md');
  await writeFile(file, '---\nname: pulse\nhandlers: [echo]\nheartbeat: { interval: 2s }\nresources: { cpu: 0.25, memory: 128Mi, pids: 32 }\n---\n');
  const r = await flock.cli(['agent', 'deploy', file]);
  expect(r.code, r.stderr).toBe(0);
  instance = await eventually(async () => ((await flock.api('/v1/agents/pulse')).body as AgentView).instances[0], 'an instance of pulse', 120_000);
  container = docker.getContainer(instance.containerId!);
}, 400_000);

afterAll(async () => {
  // A frozen runtime would make `down` wait out its stop grace.
  if (container) await signalRuntime('CONT').catch(() => undefined);
  await flock?.cleanup();
});

describe('sandbox health check', () => {
  it('a running runtime makes its sandbox healthy, in docker inspect and in agent get', async () => {
    const healthCheck = (await container.inspect()).Config.Healthcheck;
    // Checked twice per heartbeat of the manifest (2 s).
    expect(healthCheck?.Interval).toBe(1_000_000_000);
    await eventually(async () => (await dockerHealth()) === 'healthy', 'docker to call the sandbox healthy', 90_000);
    await eventually(async () => (await shownHealth()) === 'healthy', 'agent get to show healthy', 30_000);
    const shown = await flock.cli(['agent', 'get', 'pulse']);
    expect(shown.stdout).toMatch(/HEALTH/);
    expect(shown.stdout).toMatch(new RegExp(`${instance.id}\\s+\\S+\\s+healthy`));
  });

  it('a frozen runtime turns it unhealthy, and thawing it turns it healthy again', async () => {
    await signalRuntime('STOP');
    await eventually(async () => (await dockerHealth()) === 'unhealthy', 'docker to call the frozen sandbox unhealthy', 60_000);
    await eventually(async () => (await shownHealth()) === 'unhealthy', 'agent get to show unhealthy', 30_000);
    // The container itself never stopped running: only the check tells.
    expect((await container.inspect()).State.Running).toBe(true);
    await flock.logShowing(`instance ${instance.id} failed its sandbox health check`);

    await signalRuntime('CONT');
    await eventually(async () => (await dockerHealth()) === 'healthy', 'docker to call the thawed sandbox healthy', 60_000);
    await eventually(async () => (await shownHealth()) === 'healthy', 'agent get to show healthy again', 30_000);
  });
});
