import type Dockerode from 'dockerode';
import type { SandboxStats } from '@aiflock/core';

/** The parts of Docker's stats answer used here (GET /containers/{id}/stats?stream=false). */
interface DockerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: { inactive_file?: number; total_inactive_file?: number } };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  pids_stats?: { current?: number };
}

/**
 * One sample of a running container's use, computed as `docker stats` does: CPU from the
 * two readings Docker takes a second apart, memory without the reclaimable page cache.
 * Null when the container is not running (or gone).
 */
export async function containerStats(c: Dockerode.Container): Promise<SandboxStats | null> {
  const info = await c.inspect().catch(() => null);
  if (!info?.State.Running || info.State.Paused) return info ? idle(info.RestartCount ?? 0) : null;
  const s = (await c.stats({ stream: false })) as unknown as DockerStats;
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus ?? 1;
  const mem = s.memory_stats ?? {};
  const cache = mem.stats?.inactive_file ?? mem.stats?.total_inactive_file ?? 0;
  const nets = Object.values(s.networks ?? {});
  return {
    cpuPercent: cpuDelta > 0 && systemDelta > 0 ? Math.round((cpuDelta / systemDelta) * cpus * 1000) / 10 : 0,
    memoryBytes: Math.max(0, (mem.usage ?? 0) - cache),
    memoryLimitBytes: mem.limit ?? 0,
    netRxBytes: nets.reduce((n, x) => n + (x.rx_bytes ?? 0), 0),
    netTxBytes: nets.reduce((n, x) => n + (x.tx_bytes ?? 0), 0),
    pids: s.pids_stats?.current ?? 0,
    restarts: info.RestartCount ?? 0,
  };
}

/** A paused (quarantined) container uses nothing that can be sampled; its restarts still count. */
const idle = (restarts: number): SandboxStats => ({ cpuPercent: 0, memoryBytes: 0, memoryLimitBytes: 0, netRxBytes: 0, netTxBytes: 0, pids: 0, restarts });
