import type { Command } from 'commander';
import type { AgentView, InstanceStats, JobList, SystemStatus, TaskThroughput } from '@aiflock/protocol';
import type { ApiClient } from '../client.js';
import { CliError } from '../client.js';
import { printJson, println, table } from '../output.js';

export interface FlockStats {
  at: string;
  agents: { name: string; status: string; ready: number; desired: number; running: number }[];
  instances: { running: number; desired: number };
  jobs: Record<string, number>;
  /** Jobs that finished in the last minute, from the newest page of finished jobs. */
  finishedLastMinute: number;
  /** The daemon's own count of the last minute, with creation → final status latency; null from a daemon that predates it. */
  throughput: TaskThroughput | null;
}

export async function collect(api: ApiClient): Promise<FlockStats> {
  const [status, { agents }, recent] = await Promise.all([
    api.get<SystemStatus>('/v1/status'),
    api.get<{ agents: AgentView[] }>('/v1/agents'),
    api.get<JobList>('/v1/jobs?status=completed,failed,timed_out,cancelled&limit=500'),
  ]);
  const now = Date.now();
  return {
    at: new Date(now).toISOString(),
    agents: agents.map((a) => ({ name: a.name, status: a.status, ready: a.replicas.ready, desired: a.replicas.desired, running: a.replicas.running })),
    instances: { running: status.agents.instancesRunning, desired: status.agents.instancesDesired },
    jobs: status.tasks,
    finishedLastMinute: recent.jobs.filter((j) => j.finishedAt && now - Date.parse(j.finishedAt) <= 60_000).length,
    throughput: status.throughput ?? null,
  };
}

export function render(s: FlockStats): string {
  const jobs = Object.entries(s.jobs).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `aiflock  ${s.at}`,
    `instances ${s.instances.running}/${s.instances.desired} running   jobs: ${jobs}   throughput: ${throughputLine(s)}`,
    '',
    s.agents.length ? table(['AGENT', 'STATUS', 'READY', 'RUNNING'], s.agents.map((a) => [a.name, a.status, `${a.ready}/${a.desired}`, a.running])) : 'no agents deployed',
  ];
  return lines.join('\n');
}

/** As `docker stats` shows it: one line per instance. */
function instanceTable(instances: InstanceStats[]): string {
  return table(
    ['INSTANCE', 'AGENT', 'STATUS', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'PIDS', 'RESTARTS'],
    instances.map((i) => {
      const u = i.usage;
      if (!u) return [i.id, i.agent, i.status, '-', '-', '-', '-', '-', '-'];
      const memPct = u.memoryLimitBytes > 0 ? `${((100 * u.memoryBytes) / u.memoryLimitBytes).toFixed(1)}%` : '-';
      return [i.id, i.agent, i.status, `${u.cpuPercent.toFixed(1)}%`, `${bytes(u.memoryBytes)} / ${bytes(u.memoryLimitBytes)}`, memPct, `${bytes(u.netRxBytes)} / ${bytes(u.netTxBytes)}`, u.pids, u.restarts];
    }),
  );
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)}${units[i]}`;
}

export function throughputLine(s: FlockStats): string {
  const t = s.throughput;
  if (!t) return `${s.finishedLastMinute} finished in the last minute`;
  const rate = t.perSecond >= 10 ? t.perSecond.toFixed(0) : t.perSecond.toFixed(2);
  const latency = t.latencyMs ? `, created → done p50 ${ms(t.latencyMs.p50)} p90 ${ms(t.latencyMs.p90)} p99 ${ms(t.latencyMs.p99)}` : '';
  return `${t.finished} finished in the last ${t.windowSeconds} s (${rate}/s${latency})`;
}

export const ms = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(0)} s` : `${n} ms`);

/** What each instance's runtime measures; none from a daemon with no runtime to measure (not_ready), which still has flock-wide figures. */
export async function measure(api: ApiClient): Promise<InstanceStats[]> {
  const measured = await api.get<{ instances: InstanceStats[] }>('/v1/instances/stats').catch((err: unknown) => {
    if (err instanceof CliError && err.code === 'not_ready') return { instances: [] as InstanceStats[] };
    throw err;
  });
  return measured.instances;
}

export function statsCommands(program: Command, client: () => ApiClient): void {
  program
    .command('stats')
    .description('one snapshot of agents, jobs by status, throughput, and each instance\'s CPU, memory, network, processes and restarts')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const api = client();
      const [s, instances] = await Promise.all([collect(api), measure(api)]);
      // `perInstance`: what each instance's runtime measures (`top` does not wait for that sample).
      if (o.json) return printJson({ ...s, perInstance: instances });
      println(render(s));
      println();
      println(instances.length ? instanceTable(instances) : 'no instances');
    });
}
