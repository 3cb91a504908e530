import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { execIn } from '../testkit/docker.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The warm pool on the Docker runtime, with real containers: `scaling.warm: 2` keeps two
 * started sandboxes that hold nothing of the agent (inspected and searched from inside); a
 * scale-up takes one of them (its container id was in the pool), and that instance runs a
 * task; the pool refills with new containers; a removed instance's container is destroyed,
 * never pooled again, and its mounts go with it.
 */
const docker = new Dockerode();
let flock: TestFlock;

/** The flock's unclaimed warm containers (still named by their warm id). */
async function warmContainers(): Promise<Dockerode.ContainerInfo[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.warm'] } });
  return found.filter((c) => c.Names.some((n) => /-w_[a-z0-9]{8}$/.test(n)) && c.State === 'running');
}

const agent = async () => (await flock.api('/v1/agents/quick')).body as AgentView;
const metric = async (pattern: RegExp) => {
  const text = String((await flock.api('/metrics')).body);
  return Number(text.match(pattern)?.[1] ?? NaN);
};
const mountsMentioning = (what: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(what));

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  const file = join(flock.home, 'quick.agent.md');
  await writeFile(file, '---\nname: quick\nhandlers: [echo]\nheartbeat: { interval: 2s }\nresources: { cpu: 0.25, memory: 128Mi, pids: 32 }\nscaling: { warm: 2 }\n---\n');
  const r = await flock.cli(['agent', 'deploy', file]);
  expect(r.code, r.stderr).toBe(0);
  await eventually(async () => (await agent()).instances.find((i) => i.status === 'running'), 'the first instance of quick running', 120_000);
}, 400_000);

afterAll(async () => {
  await flock?.cleanup();
  // `down` took the warm ones too.
  if (flock) expect(await docker.listContainers({ all: true, filters: { label: [`aiflock.flock=${flock.name}`] } })).toEqual([]);
});

describe('warm pool (docker)', () => {
  let pooled: Dockerode.ContainerInfo[] = [];

  it('fills to scaling.warm, shown in agent get and /metrics', async () => {
    pooled = await eventually(async () => {
      const w = await warmContainers();
      return w.length === 2 ? w : null;
    }, 'two warm containers', 60_000);
    await eventually(async () => (await agent()).warm?.ready === 2, 'agent get to show 2 ready');
    expect((await agent()).warm).toEqual({ ready: 2, wanted: 2 });
    expect(await metric(/aiflock_warm_sandboxes\{image="[^"]+"\} (\d+)/)).toBe(2);
    const shown = await flock.cli(['agent', 'get', 'quick']);
    expect(shown.stdout).toMatch(/warm pool:\s+2\/2/);
  });

  it('a warm container carries no identity and no credentials: env, labels, mounts and files', async () => {
    for (const c of pooled) {
      const info = await docker.getContainer(c.Id).inspect();
      const env = info.Config.Env ?? [];
      expect(env.some((e) => /quick/.test(e)), env.join(' ')).toBe(false);
      for (const name of ['AIFLOCK_AGENT', 'AIFLOCK_INSTANCE_ID', 'AIFLOCK_NATS_URL', 'AIFLOCK_NATS_CREDS', 'AIFLOCK_HANDLERS', 'AIFLOCK_WORKSPACE']) {
        expect(env.find((e) => e.startsWith(`${name}=`))).toBeUndefined();
      }
      expect(env).toContain('AIFLOCK_WARM_IDENTITY=/run/aiflock-claim/identity.json');
      expect(info.Config.Labels?.['aiflock.agent']).toBeUndefined();
      expect(info.Config.Labels?.['aiflock.instance']).toBeUndefined();
      expect(info.Config.Hostname).not.toMatch(/quick/);
      // Its mounts are its own empty slot, nothing of any agent's storage.
      for (const m of info.Mounts) expect(m.Source).toMatch(/\/warm\/w_[a-z0-9]{8}\//);
      // From inside: the places where an instance finds its files, credentials and identity are empty.
      const r = await execIn(docker.getContainer(c.Id), ['sh', '-c', 'find /shared /run/aiflock /run/secrets /run/aiflock-claim -mindepth 1; for p in $(cat /proc/1/task/1/children); do tr "\\0" "\\n" < /proc/$p/environ; done']);
      expect(r.exitCode, r.stderr).toBe(0);
      const [files, runtimeEnv] = [r.stdout.split('\n').filter((l) => l.startsWith('/')), r.stdout];
      expect(files).toEqual([]);
      // The waiting runtime's own environment names no agent either.
      expect(runtimeEnv).toMatch(/AIFLOCK_WARM_IDENTITY=/);
      expect(runtimeEnv).not.toMatch(/quick|AIFLOCK_INSTANCE_ID|AIFLOCK_NATS_CREDS/);
    }
  });

  let claimed: { id: string; containerId: string };

  it('a scale-up claims a warm container, and the instance answers a task', async () => {
    const before = new Set((await agent()).instances.map((i) => i.id));
    const warmIds = new Set(pooled.map((c) => c.Id));
    const scaled = await flock.cli(['agent', 'scale', 'quick', '2']);
    expect(scaled.code, scaled.stderr).toBe(0);
    const fresh = await eventually(async () => (await agent()).instances.find((i) => !before.has(i.id) && i.status === 'running'), 'the new instance running', 60_000);
    expect(warmIds.has(fresh.containerId!), `container ${fresh.containerId} was one of the pool's (${[...warmIds].join(', ')})`).toBe(true);
    claimed = { id: fresh.id, containerId: fresh.containerId! };
    expect(await metric(/aiflock_warm_claims_total\{agent="quick",outcome="hit"\} (\d+)/)).toBeGreaterThanOrEqual(1);
    // Claimed: it has the instance's name, workspace and credentials where a cold start has them.
    const inside = await execIn(docker.getContainer(claimed.containerId), ['sh', '-c', 'test -s /run/aiflock/nats.creds && grep -c " /shared/agents/quick " /proc/self/mountinfo']);
    expect(inside.exitCode, inside.stderr).toBe(0);
    expect((await docker.getContainer(claimed.containerId).inspect()).Name).toBe(`/aiflock-${flock.name}-${claimed.id}`);
    // Tasks go to either replica: run until the claimed one has answered one.
    await eventually(async () => {
      const t = await flock.cliJson<TaskView>(['task', 'run', 'quick', '--input', '{"hello":"warm"}', '--wait']);
      expect(t.status).toBe('completed');
      return t.instanceId === claimed.id;
    }, `a task answered by ${claimed.id}`, 60_000);
  });

  it('the pool refills with new containers', async () => {
    const refilled = await eventually(async () => {
      const w = await warmContainers();
      return w.length === 2 ? w : null;
    }, 'the pool back at two', 60_000);
    expect(refilled.map((c) => c.Id)).not.toContain(claimed.containerId);
  });

  it('a removed instance is destroyed with its container and mounts, not pooled', async () => {
    const warmId = (await docker.getContainer(claimed.containerId).inspect()).Config.Labels!['aiflock.warm']!;
    expect(mountsMentioning(`/warm/${warmId}/`).length).toBeGreaterThan(0);
    // Stopping it makes the reconciler replace it: the replacement is a claim too, never this container.
    await docker.getContainer(claimed.containerId).update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
    await docker.getContainer(claimed.containerId).kill({ signal: 'SIGKILL' });
    await eventually(async () => !(await agent()).instances.some((i) => i.id === claimed.id && i.status !== 'exited') && (await docker.getContainer(claimed.containerId).inspect().then(() => false, () => true)), `${claimed.id}'s container gone`, 60_000);
    expect((await warmContainers()).map((c) => c.Id)).not.toContain(claimed.containerId);
    // Its slot's mounts go right after the container (the same removal).
    await eventually(async () => mountsMentioning(`/warm/${warmId}/`).length === 0, `no mounts left under ${warmId}'s slot`, 30_000);
    await eventually(async () => (await agent()).instances.filter((i) => i.status === 'running').length === 2, 'a replacement running', 60_000);
  });
});
