import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
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
const logImage = (id: string) => join(flock.home, 'shared', 'volumes', 'logs', `${id}.ext4`);

/** The device of the file system that holds `dir` inside a container. */
async function logDevice(containerId: string, dir: string): Promise<string> {
  const r = await execIn(docker.getContainer(containerId), ['stat', '-c', '%d', dir]);
  expect(r.exitCode, `stat ${dir} in ${containerId}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

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
    // Unclaimed, they run under the warm start's quota (a whole CPU), not the manifest's 0.25.
    for (const c of pooled) expect((await docker.getContainer(c.Id).inspect()).HostConfig.NanoCpus).toBe(1e9);
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
      // Only the root of its own, still empty, log volume (made ahead so no claim waits for mkfs).
      expect(files).toEqual(['/shared/logs']);
      // The waiting runtime's own environment names no agent either.
      expect(runtimeEnv).toMatch(/AIFLOCK_WARM_IDENTITY=/);
      expect(runtimeEnv).not.toMatch(/quick|AIFLOCK_INSTANCE_ID|AIFLOCK_NATS_CREDS/);
    }
  });

  it('each warm container has a log volume of its own, made ahead and empty', async () => {
    const devices = new Set<string>();
    for (const c of pooled) {
      const warmId = c.Labels['aiflock.warm']!;
      expect(existsSync(logImage(warmId)), `${warmId}'s log image`).toBe(true);
      devices.add(await logDevice(c.Id, '/shared/logs'));
    }
    expect(devices.size).toBe(pooled.length);
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
    // The warm container's log volume is now the instance's, under the instance's name only.
    const warmId = pooled.find((c) => c.Id === claimed.containerId)!.Labels['aiflock.warm']!;
    expect(existsSync(logImage(warmId))).toBe(false);
    expect(existsSync(logImage(claimed.id))).toBe(true);
    await eventually(async () => /"msg":"ready"/.test(await readFile(join(flock.home, 'shared', 'logs', claimed.id, 'agent.log'), 'utf8').catch(() => '')), 'the host to see its log file');
    // Its size limit holds from inside: writing past it fails with ENOSPC, and the host's disk is untouched.
    // The image has no dd: node appends 1 MiB at a time, up to 200 MiB, and prints the error that stopped it.
    const writer = `const fs=require('fs');const b=Buffer.alloc(1<<20);try{for(let i=0;i<200;i++)fs.appendFileSync(process.argv[1],b);console.log('wrote 200 MiB')}catch(e){console.log(e.code)}`;
    const fill = await execIn(docker.getContainer(claimed.containerId), ['sh', '-c', `df -k /shared/logs/${claimed.id} | tail -1; node -e "$0" /shared/logs/${claimed.id}/fill; rm -f /shared/logs/${claimed.id}/fill`, writer]);
    expect(fill.stdout).toMatch(/^ENOSPC$/m);
    const sizeKb = Number(fill.stdout.split('\n')[0]!.trim().split(/\s+/)[1]);
    expect(sizeKb).toBeLessThan(64 * 1024);
    // Tasks go to either replica: run until the claimed one has answered one.
    await eventually(async () => {
      const t = await flock.cliJson<TaskView>(['task', 'run', 'quick', '--input', '{"hello":"warm"}', '--wait']);
      expect(t.status).toBe('completed');
      return t.instanceId === claimed.id;
    }, `a task answered by ${claimed.id}`, 60_000);
  });

  it("a claimed container gets its manifest's CPU quota once started, and keeps it", async () => {
    const nanoCpus = async () => (await docker.getContainer(claimed.containerId).inspect()).HostConfig.NanoCpus;
    await eventually(async () => (await nanoCpus()) === 0.25e9, "the manifest's cpu: 0.25 on the claimed container", 30_000);
    // Changed behind the flock's back (or never applied, the daemon having stopped within the
    // grace): the reconciler's listing puts the manifest's quota back.
    await docker.getContainer(claimed.containerId).update({ NanoCpus: 1e9 });
    expect(await nanoCpus()).toBe(1e9);
    await eventually(async () => (await nanoCpus()) === 0.25e9, "the manifest's quota restored by the next listing", 30_000);
  });

  let refilledIds = new Set<string>();
  let instancesBefore: string[] = [];

  it('the pool refills with new containers', async () => {
    const refilled = await eventually(async () => {
      const w = await warmContainers();
      return w.length === 2 ? w : null;
    }, 'the pool back at two', 60_000);
    expect(refilled.map((c) => c.Id)).not.toContain(claimed.containerId);
    refilledIds = new Set(refilled.map((c) => c.Id));
  });

  it('a removed instance is destroyed with its container and mounts, not pooled', async () => {
    const warmId = (await docker.getContainer(claimed.containerId).inspect()).Config.Labels!['aiflock.warm']!;
    instancesBefore = (await agent()).instances.map((i) => i.id);
    expect(mountsMentioning(`/warm/${warmId}/`).length).toBeGreaterThan(0);
    // Stopping it makes the reconciler replace it: the replacement is a claim too, never this container.
    await docker.getContainer(claimed.containerId).update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
    await docker.getContainer(claimed.containerId).kill({ signal: 'SIGKILL' });
    await eventually(async () => !(await agent()).instances.some((i) => i.id === claimed.id && i.status !== 'exited') && (await docker.getContainer(claimed.containerId).inspect().then(() => false, () => true)), `${claimed.id}'s container gone`, 60_000);
    expect((await warmContainers()).map((c) => c.Id)).not.toContain(claimed.containerId);
    // Its slot's mounts go right after the container (the same removal).
    await eventually(async () => mountsMentioning(`/warm/${warmId}/`).length === 0, `no mounts left under ${warmId}'s slot`, 30_000);
    const before = new Set(instancesBefore);
    const replacement = await eventually(async () => {
      const running = (await agent()).instances.filter((i) => i.status === 'running');
      return running.length === 2 ? running.find((i) => !before.has(i.id)) : undefined;
    }, 'a replacement running', 60_000);
    expect(refilledIds.has(replacement.containerId!), `the replacement ${replacement.id} claimed a warm container`).toBe(true);
  });

  it('a pre-made log volume goes to one instance only: each claimed one has its own device', async () => {
    const running = (await agent()).instances.filter((i) => i.status === 'running');
    const devices = new Map<string, string>();
    for (const i of running) devices.set(i.id, await logDevice(i.containerId!, `/shared/logs/${i.id}`));
    for (const c of await warmContainers()) devices.set(c.Id, await logDevice(c.Id, '/shared/logs'));
    // Not the root file system's: each is a volume.
    devices.set('/', await logDevice(running[0]!.containerId!, '/'));
    expect(new Set(devices.values()).size, JSON.stringify([...devices])).toBe(devices.size);
  });

  it("an agent that claims warm sandboxes keeps its workspace mounted at zero instances (a scale-up from zero does not wait for the mount)", async () => {
    const workspace = join(flock.home, 'shared', 'agents', 'quick');
    const mountedAt = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
    expect(mountedAt(workspace)).toBe(true);
    const scaled = await flock.cli(['agent', 'scale', 'quick', '0']);
    expect(scaled.code, scaled.stderr).toBe(0);
    // Its instances' containers gone (claimed ones are named for the instance), and their storage released.
    const instanceContainers = async () => (await docker.listContainers({ all: true, filters: { name: [`aiflock-${flock.name}-quick-`] } })).length;
    await eventually(async () => (await instanceContainers()) === 0 && (await agent()).instances.every((i) => i.status !== 'running'), 'no instance of quick left', 60_000);
    await eventually(async () => !existsSync(join(flock.home, 'shared', 'logs')) || mountsMentioning(`/shared/logs/quick-`).length === 0, 'its log volumes released', 30_000);
    expect(mountedAt(workspace)).toBe(true);
  });

  it('a discarded warm sandbox takes its log volume with it', async () => {
    // The replacement above took one: the pool is back at two once refilled.
    const warm = await eventually(async () => {
      const w = await warmContainers();
      return w.length === 2 ? w : null;
    }, 'the pool back at two', 60_000);
    const warmIds = warm.map((c) => c.Labels['aiflock.warm']!);
    const file = join(flock.home, 'quick.agent.md');
    await writeFile(file, (await readFile(file, 'utf8')).replace('scaling: { warm: 2 }', 'scaling: { warm: 0 }'));
    const r = await flock.cli(['agent', 'deploy', file]);
    expect(r.code, r.stderr).toBe(0);
    await eventually(async () => (await warmContainers()).length === 0, 'no warm containers left', 60_000);
    for (const id of warmIds) {
      await eventually(async () => !existsSync(logImage(id)) && mountsMentioning(`/warm/${id}/`).length === 0, `${id}'s log volume and mounts gone`, 30_000);
    }
  });
});
