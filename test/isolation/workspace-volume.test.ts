import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '@aiflock/core';
import { DockerRuntime } from '../../packages/daemon/src/adapters/runtimes/docker/docker-runtime.js';
import { containerName } from '../../packages/daemon/src/adapters/runtimes/docker/names.js';
import { attachedLoop, mountSource, mountWorkspaceVolume, retireWorkspaceVolume, unmountWorkspaceVolume, workspaceImage } from '../../packages/daemon/src/adapters/runtimes/shared/volumes.js';
import { nodeProbe } from '../../testkit/docker.js';
import { eventually } from '../../testkit/flock.js';
import { freePort } from '../../testkit/ports.js';
import { IMAGE, ensureImage, rand } from './harness.js';

/*
 * Issue 16: a sandbox could fill the host's disk through its workspace and its log file. Each agent's workspace
 * is now a file system of its own (a loop-mounted ext4 image): writing past its size fails
 * with ENOSPC inside, while the host and another agent's workspace are untouched; the mount
 * is reused by a restarted daemon and leaves no loop device behind once removed.
 */

const MiB = 1024 ** 2;
/** Small log files, so a flood reaches the log volume's limit quickly: 1 MiB, two old files kept. */
const LOGS = { logFileMaxBytes: MiB, logFileKeep: 2 };
const docker = new Dockerode();
const flock = `w${rand(6)}`;
const sharedDir = mkdtempSync(join(tmpdir(), 'aiflock-ws-'));
let runtime: DockerRuntime;
let busPort: number;

const hog = `hog-${rand(8)}`;
const calm = `calm-${rand(8)}`;
const container = (id: string) => docker.getContainer(containerName(flock, id));

function spec(agent: string, instanceId: string, workspaceBytes?: number): SandboxSpec {
  return {
    instanceId,
    agent,
    image: IMAGE,
    profile: 'restricted',
    env: { AIFLOCK_INSTANCE_ID: instanceId, AIFLOCK_AGENT: agent, AIFLOCK_NATS_URL: runtime.busUrlForSandboxes(), AIFLOCK_HANDLERS: 'echo' },
    resources: { cpu: 0.5, memoryBytes: 128 * MiB, pids: 64, tmpBytes: 8 * MiB, ...(workspaceBytes ? { workspaceBytes } : {}) },
    manifestDigest: `sha256:${'ef'.repeat(32)}`,
  };
}

/** Writes 1 MiB chunks until the file system refuses; prints how far it got and why it stopped. */
const FILL = `
  const fs = require('fs');
  const fd = fs.openSync(process.argv[1], 'w');
  const chunk = Buffer.alloc(1 << 20, 7);
  let written = 0, error = 'none';
  try { for (let i = 0; i < Number(process.argv[2]); i++) written += fs.writeSync(fd, chunk); } catch (e) { error = e.code; }
  fs.closeSync(fd);
  let small = 'ok';
  try { fs.writeFileSync(process.argv[1] + '.more', chunk); } catch (e) { small = e.code; }
  console.log(JSON.stringify({ written, error, small }));
`;

const loopsOf = (image: string) =>
  spawnSync('losetup', ['-j', image], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim());

beforeAll(async () => {
  ensureImage();
  busPort = await freePort();
  runtime = new DockerRuntime({ docker, flock, sharedDir, busPort, node: 'ws', storage: LOGS });
  await runtime.init();
  await runtime.start(spec('hog', hog, 32 * MiB));
  await runtime.start(spec('calm', calm)); // the runtime's default size
});

afterAll(async () => {
  await runtime?.dispose();
  rmSync(sharedDir, { recursive: true, force: true });
});

describe('isolation: workspace size', () => {
  it('writing past the workspace size fails with ENOSPC inside; the host and another agent are unaffected', async () => {
    const r = await nodeProbe<{ written: number; error: string; small: string }>(container(hog), FILL, ['/shared/agents/hog/fill', '200']);
    expect(r.error).toBe('ENOSPC');
    expect(r.small).toBe('ENOSPC');
    expect(r.written).toBeGreaterThan(16 * MiB); // it could write, up to the limit
    expect(r.written).toBeLessThanOrEqual(32 * MiB);
    // On the host the whole volume takes at most its size, whatever was asked for.
    const image = workspaceImage(sharedDir, 'hog');
    expect(statSync(image).blocks * 512).toBeLessThanOrEqual(32 * MiB);
    // The neighbour still writes into its own workspace (a volume of its own).
    const n = await nodeProbe<{ written: number; error: string }>(container(calm), FILL, ['/shared/agents/calm/f', '40']);
    expect(n).toMatchObject({ written: 40 * MiB, error: 'none' });
    expect(await mountSource(join(sharedDir, 'agents', 'calm'))).toMatch(/^\/dev\/loop\d+$/);
    expect(statSync(workspaceImage(sharedDir, 'calm')).size).toBe(1024 ** 3);
  });

  it('a restarted daemon reuses the mounted volume (one loop device, the files kept); remove leaves no loop device', async () => {
    const image = workspaceImage(sharedDir, 'hog');
    expect(loopsOf(image)).toHaveLength(1);
    // A second runtime object is what a restarted daemon has: nothing in memory.
    const again = new DockerRuntime({ docker, flock, sharedDir, busPort, node: 'ws', storage: LOGS });
    await again.init();
    const hog2 = `hog-${rand(8)}`;
    await again.start(spec('hog', hog2, 32 * MiB));
    expect(loopsOf(image)).toHaveLength(1);
    const seen = await nodeProbe<{ size: number }>(container(hog2), `console.log(JSON.stringify({ size: require('fs').statSync('/shared/agents/hog/fill').size }))`);
    expect(seen.size).toBeGreaterThan(16 * MiB);
    // One replica gone: the other still uses the volume, so it stays mounted.
    await again.remove(hog);
    expect(await mountSource(join(sharedDir, 'agents', 'hog'))).toMatch(/^\/dev\/loop/);
    await again.remove(hog2);
    expect(await mountSource(join(sharedDir, 'agents', 'hog'))).toBeNull();
    await eventually(async () => loopsOf(image).length === 0, 'the loop device released', 5000).catch((e) => {
      const dev = (loopsOf(image)[0] ?? '').split(':')[0]!.replace('/dev/', '');
      const holders = spawnSync('sh', ['-c', `for p in /proc/[0-9]*; do grep -q " /dev/${dev} " $p/mountinfo 2>/dev/null && echo "$p $(grep " /dev/${dev} " $p/mountinfo | head -1 | cut -c1-200) :: $(cat $p/cmdline | tr '\\0' ' ' | cut -c1-100)"; done; ls /sys/block/${dev}/holders`], { encoding: 'utf8' }).stdout;
      throw new Error(`${(e as Error).message}; holders:\n${holders}`);
    });
    // The files stay in the image: the next start finds them.
    await runtime.start(spec('hog', hog, 32 * MiB));
    const back = await nodeProbe<{ size: number }>(container(hog), `console.log(JSON.stringify({ size: require('fs').statSync('/shared/agents/hog/fill').size }))`);
    expect(back.size).toBe(seen.size);
    await runtime.remove(hog);
    expect(await mountSource(join(sharedDir, 'agents', 'hog'))).toBeNull();
    await eventually(async () => loopsOf(image).length === 0, 'the loop device released');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(join(sharedDir, 'agents', 'hog'));
  });
});

describe('isolation: per-instance log files', () => {
  it('the agent is told to rotate; a flood written past it is stopped by the log volume (ENOSPC), and the files kept after remove stay bounded', async () => {
    const id = `chatty-${rand(8)}`;
    await runtime.start(spec('chatty', id));
    const env = (await container(id).inspect()).Config.Env;
    expect(env).toEqual(expect.arrayContaining([`AIFLOCK_LOG_FILE=/shared/logs/${id}/agent.log`, `AIFLOCK_LOG_FILE_MAX_BYTES=${MiB}`, 'AIFLOCK_LOG_FILE_KEEP=2']));
    // The attack: ignore the rotation and write straight into the log directory, 200 MiB.
    const r = await nodeProbe<{ written: number; error: string }>(container(id), FILL, [`/shared/logs/${id}/flood`, '200']);
    expect(r.error).toBe('ENOSPC');
    expect(r.written).toBeLessThanOrEqual(16 * MiB); // max(16 MiB, 3 files + ext4's own 8 MiB)
    const dir = join(sharedDir, 'logs', id);
    expect(await mountSource(dir)).toMatch(/^\/dev\/loop\d+$/);
    await runtime.remove(id);
    // Removed: the files are plain ones in the same directory now, no bigger than the volume was.
    expect(await mountSource(dir)).toBeNull();
    const kept = readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['agent.log', 'flood']));
    expect(kept).toBeLessThanOrEqual(16 * MiB);
    expect(existsSync(join(sharedDir, 'volumes', 'logs', `${id}.ext4`))).toBe(false);
  });
});

describe('isolation: releasing a volume something still holds', () => {
  it('an unmount that finds the volume busy is retried, then detached lazily: it leaves the host tree all the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiflock-busy-'));
    const image = join(dir, 'v.ext4');
    const point = join(dir, 'mnt');
    const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    expect(sh(`truncate -s 16M ${image} && mkfs.ext4 -q ${image} && mkdir ${point} && mount -o loop ${image} ${point}`).status).toBe(0);
    // A process whose working directory is in the volume: a plain umount says "target is busy".
    const holder = spawn('sleep', ['60'], { cwd: point, stdio: 'ignore' });
    try {
      expect(sh(`umount ${point}`).stderr).toMatch(/busy/);
      await unmountWorkspaceVolume(point);
      expect(await mountSource(point)).toBeNull();
    } finally {
      holder.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a workspace still alive after its host mount went is mounted again onto the same file system (never checked under it), and archived', async () => {
    const shared = mkdtempSync(join(tmpdir(), 'aiflock-alive-'));
    const ws = join(shared, 'agents', 'keep');
    mkdirSync(ws, { recursive: true });
    await mountWorkspaceVolume(shared, 'keep', ws, 16 * MiB);
    writeFileSync(join(ws, 'before'), 'kept');
    // Something still uses the file system (as a sandbox's bind does): the host's unmount is lazy.
    const holder = spawn('sleep', ['60'], { cwd: ws, stdio: 'ignore' });
    try {
      await unmountWorkspaceVolume(ws);
      expect(await mountSource(ws)).toBeNull();
      const live = await attachedLoop(workspaceImage(shared, 'keep'));
      expect(live).toMatch(/^\/dev\/loop\d+$/);

      // A new instance's start: mounted again on the very file system the holder uses. (Not
      // larger: growing a mounted ext4 needs CAP_SYS_RESOURCE, which this test machine lacks.)
      await mountWorkspaceVolume(shared, 'keep', ws, 16 * MiB);
      expect(await mountSource(ws)).toBe(live);
      expect(readFileSync(join(ws, 'before'), 'utf8')).toBe('kept');
      writeFileSync(join(ws, 'after'), 'seen');
      expect(readFileSync(`/proc/${holder.pid}/cwd/after`, 'utf8')).toBe('seen');

      // `agent remove` while the holder still has it read-write: archived all the same.
      await unmountWorkspaceVolume(ws);
      const archive = join(shared, 'archive', 'keep');
      expect(await retireWorkspaceVolume(shared, 'keep', ws, archive)).toBe(true);
      expect(readdirSync(archive).sort()).toEqual(['after', 'before']);
      expect(existsSync(workspaceImage(shared, 'keep'))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      for (const point of [ws]) spawnSync('umount', ['--lazy', point]);
      rmSync(shared, { recursive: true, force: true });
    }
  }, 60_000);
});
