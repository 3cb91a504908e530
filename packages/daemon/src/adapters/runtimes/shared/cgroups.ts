import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  cpu: number;
}

const ROOT = '/sys/fs/cgroup';
const CPU_PERIOD_US = 100_000;

/**
 * One instance's cgroup: memory (no swap), pids and cpu limits, a freezer for quarantine,
 * kill-all, and the OOM-kill count. cgroup v2 (Debian 12's default) and v1 (hosts mounting
 * the legacy hierarchies) are both handled: the process runtime cannot assume either.
 */
export class InstanceCgroup {
  private constructor(
    private readonly v2: boolean,
    /** v2: the one directory; v1: one directory per controller. */
    private readonly dirs: Record<string, string>,
  ) {}

  static version(): 1 | 2 {
    return existsSync(join(ROOT, 'cgroup.controllers')) ? 2 : 1;
  }

  static async create(flock: string, instanceId: string, limits: CgroupLimits): Promise<InstanceCgroup> {
    const cpuQuota = Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US));
    if (InstanceCgroup.version() === 2) {
      const parent = join(ROOT, `aiflock-${flock}`);
      await mkdir(parent, { recursive: true });
      // Controllers must be delegated down the tree before a child can use them.
      await writeFile(join(ROOT, 'cgroup.subtree_control'), '+memory +pids +cpu').catch(() => {});
      await writeFile(join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
      const dir = join(parent, instanceId);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
      await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {}); // absent without swap accounting
      await writeFile(join(dir, 'pids.max'), String(limits.pids));
      await writeFile(join(dir, 'cpu.max'), `${cpuQuota} ${CPU_PERIOD_US}`);
      return new InstanceCgroup(true, { all: dir });
    }
    const dirs: Record<string, string> = {};
    for (const c of V1_CONTROLLERS) {
      if (!existsSync(join(ROOT, c))) throw new Error(`cgroup v1 controller "${c}" is not mounted at ${join(ROOT, c)}`);
      dirs[c] = join(ROOT, c, `aiflock-${flock}`, instanceId);
      await mkdir(dirs[c]!, { recursive: true });
    }
    await writeFile(join(dirs['memory']!, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // No swap either (only present with swap accounting).
    await writeFile(join(dirs['memory']!, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => {});
    await writeFile(join(dirs['pids']!, 'pids.max'), String(limits.pids));
    await writeFile(join(dirs['cpu']!, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    await writeFile(join(dirs['cpu']!, 'cpu.cfs_quota_us'), String(cpuQuota));
    return new InstanceCgroup(false, dirs);
  }

  /** Files a launcher writes its own pid into, before it execs the sandbox. */
  procsFiles(): string[] {
    return Object.values(this.dirs).map((d) => join(d, 'cgroup.procs'));
  }

  async pids(): Promise<number[]> {
    const text = await readFile(join(this.v2 ? this.dirs['all']! : this.dirs['pids']!, 'cgroup.procs'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map(Number);
  }

  async freeze(frozen: boolean): Promise<void> {
    if (this.v2) await writeFile(join(this.dirs['all']!, 'cgroup.freeze'), frozen ? '1' : '0');
    else await writeFile(join(this.dirs['freezer']!, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
  }

  /** SIGKILL everything in the group (frozen tasks die once thawed, so thaw after). */
  async killAll(): Promise<void> {
    if (this.v2 && existsSync(join(this.dirs['all']!, 'cgroup.kill'))) {
      await writeFile(join(this.dirs['all']!, 'cgroup.kill'), '1');
    } else {
      for (const pid of await this.pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await this.freeze(false).catch(() => {});
  }

  /** What the group uses now: memory (and its limit), processes, and CPU time so far (µs). */
  async usage(): Promise<{ memoryBytes: number; memoryLimitBytes: number; pids: number; cpuUsec: number }> {
    const num = async (file: string) => Number((await readFile(file, 'utf8').catch(() => '0')).trim()) || 0;
    if (this.v2) {
      const dir = this.dirs['all']!;
      const cpu = /^usage_usec (\d+)$/m.exec(await readFile(join(dir, 'cpu.stat'), 'utf8').catch(() => ''));
      return { memoryBytes: await num(join(dir, 'memory.current')), memoryLimitBytes: await num(join(dir, 'memory.max')), pids: await num(join(dir, 'pids.current')), cpuUsec: cpu ? Number(cpu[1]) : 0 };
    }
    return {
      memoryBytes: await num(join(this.dirs['memory']!, 'memory.usage_in_bytes')),
      memoryLimitBytes: await num(join(this.dirs['memory']!, 'memory.limit_in_bytes')),
      pids: await num(join(this.dirs['pids']!, 'pids.current')),
      // cpuacct shares the cpu hierarchy on most hosts (`cpu,cpuacct`); nanoseconds there.
      cpuUsec: Math.round((await num(join(this.dirs['cpu']!, 'cpuacct.usage'))) / 1000),
    };
  }

  /** How many processes the kernel killed for exceeding the memory limit. */
  async oomKills(): Promise<number> {
    const file = this.v2 ? join(this.dirs['all']!, 'memory.events') : join(this.dirs['memory']!, 'memory.oom_control');
    const text = await readFile(file, 'utf8').catch(() => '');
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  /** Killed tasks leave the group a moment after the launcher exits: EBUSY until then. */
  async remove(): Promise<void> {
    for (const d of Object.values(this.dirs)) {
      for (let i = 0; i < 50; i++) {
        try {
          await rmdir(d);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY') break;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }

  /** The flock's parent groups, once its instances are gone. */
  static async removeFlock(flock: string): Promise<void> {
    for (const d of flockDirs(flock)) await rmdir(d).catch(() => {});
  }

  /**
   * Every instance group a flock still has, though nothing of this process made them (a
   * previous run that was killed left them): all their processes killed, the groups and the
   * flock's parents removed. Returns the instance ids it found. On v1 each controller has its
   * own tree, so an instance is found under any of them; its processes are frozen first, so
   * that none forks a new one between the listing and the kill.
   */
  static async reclaimFlock(flock: string): Promise<string[]> {
    const v2 = InstanceCgroup.version() === 2;
    const ids = new Set<string>();
    for (const parent of flockDirs(flock)) {
      for (const d of await readdir(parent, { withFileTypes: true }).catch(() => [])) if (d.isDirectory()) ids.add(d.name);
    }
    for (const id of ids) {
      const group = v2 ? new InstanceCgroup(true, { all: join(ROOT, `aiflock-${flock}`, id) }) : new InstanceCgroup(false, Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(ROOT, c, `aiflock-${flock}`, id)])));
      await group.freeze(true).catch(() => {});
      await group.killAll();
      await group.remove();
    }
    await InstanceCgroup.removeFlock(flock);
    return [...ids];
  }
}

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'] as const;

/** Where a flock's instance groups live: one parent on v2, one per controller on v1. */
function flockDirs(flock: string): string[] {
  return InstanceCgroup.version() === 2 ? [join(ROOT, `aiflock-${flock}`)] : V1_CONTROLLERS.map((c) => join(ROOT, c, `aiflock-${flock}`));
}
