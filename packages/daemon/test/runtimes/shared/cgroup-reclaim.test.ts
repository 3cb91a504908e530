import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { InstanceCgroup } from '../../../src/adapters/runtimes/shared/cgroups.js';

/**
 * What a killed node agent leaves: instance groups with live processes in them, one of them
 * forking all the time. Reclaiming the flock must end every process and leave no group, on
 * whichever cgroup version this host mounts (this machine: v1, one tree per controller).
 */
const flock = `t${randomBytes(4).toString('hex')}`;
const limits = { memoryBytes: 256 * 1024 * 1024, pids: 64, cpu: 0.5 };

/** Puts itself into the groups, then runs `script` (as the runtimes' launchers do). */
function launchInto(group: InstanceCgroup, script: string): number {
  const child = spawn('sh', ['-c', `for f in "$@"; do echo $$ > "$f"; done; ${script}`, 'launch', ...group.procsFiles()], { stdio: 'ignore', detached: true });
  child.unref();
  return child.pid!;
}

const alive = (pid: number) => {
  try {
    // A zombie waits for its parent to reap it: it runs nothing any more.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const groupDirs = (id: string) =>
  InstanceCgroup.version() === 2 ? [`/sys/fs/cgroup/aiflock-${flock}/${id}`] : ['memory', 'pids', 'cpu', 'freezer'].map((c) => `/sys/fs/cgroup/${c}/aiflock-${flock}/${id}`);

describe(`reclaiming a flock's leftover cgroups (cgroup v${InstanceCgroup.version()})`, () => {
  afterAll(async () => {
    await InstanceCgroup.reclaimFlock(flock);
  });

  it('kills every process in every instance group, a forking one too, and removes the groups', async () => {
    const quiet = await InstanceCgroup.create(flock, 'quiet', limits);
    const forking = await InstanceCgroup.create(flock, 'forking', limits);
    launchInto(quiet, 'sleep 300 & sleep 300 & wait');
    launchInto(forking, 'while :; do sleep 300 & done');
    // Both running with children of their own before the reclaim.
    for (let i = 0; i < 100 && ((await quiet.pids()).length < 3 || (await forking.pids()).length < 5); i++) await new Promise((r) => setTimeout(r, 50));
    const before = [...(await quiet.pids()), ...(await forking.pids())];
    expect((await quiet.pids()).length).toBeGreaterThanOrEqual(3);
    expect((await forking.pids()).length).toBeGreaterThanOrEqual(5);

    const reclaimed = await InstanceCgroup.reclaimFlock(flock);

    expect(reclaimed.sort()).toEqual(['forking', 'quiet']);
    expect(before.filter(alive)).toEqual([]);
    expect([...groupDirs('quiet'), ...groupDirs('forking')].filter((d) => existsSync(d))).toEqual([]);
    expect(existsSync(groupDirs('quiet')[0]!.replace(/\/quiet$/, ''))).toBe(false);
  });

  it('finds nothing to reclaim for a flock with no groups, and changes nothing', async () => {
    expect(await InstanceCgroup.reclaimFlock(`t${randomBytes(4).toString('hex')}`)).toEqual([]);
  });
});
