import type { Command } from 'commander';
import type { AgentView, InstanceStats, JobList, SystemStatus, TaskThroughput } from '@aiflock/protocol';
import type { ApiClient } from '../client.js';
import { CliError } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, table } from '../output.js';
import { toInt } from './shared.js';

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

async function collect(api: ApiClient): Promise<FlockStats> {
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

function render(s: FlockStats): string {
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

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)}${units[i]}`;
}

function throughputLine(s: FlockStats): string {
  const t = s.throughput;
  if (!t) return `${s.finishedLastMinute} finished in the last minute`;
  const rate = t.perSecond >= 10 ? t.perSecond.toFixed(0) : t.perSecond.toFixed(2);
  const latency = t.latencyMs ? `, created → done p50 ${ms(t.latencyMs.p50)} p90 ${ms(t.latencyMs.p90)} p99 ${ms(t.latencyMs.p99)}` : '';
  return `${t.finished} finished in the last ${t.windowSeconds} s (${rate}/s${latency})`;
}

const ms = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(0)} s` : `${n} ms`);

export function statsCommands(program: Command, client: () => ApiClient): void {
  program
    .command('stats')
    .description('one snapshot of agents, jobs by status, throughput, and each instance\'s CPU, memory, network, processes and restarts')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const api = client();
      // A daemon with no runtime to measure (not_ready) still has flock-wide figures to show.
      const measured = api.get<{ instances: InstanceStats[] }>('/v1/instances/stats').catch((err: unknown) => {
        if (err instanceof CliError && err.code === 'not_ready') return { instances: [] as InstanceStats[] };
        throw err;
      });
      const [s, { instances }] = await Promise.all([collect(api), measured]);
      // `perInstance`: what each instance's runtime measures (`top` does not wait for that sample).
      if (o.json) return printJson({ ...s, perInstance: instances });
      println(render(s));
      println();
      println(instances.length ? instanceTable(instances) : 'no instances');
    });

  program
    .command('top')
    .description('live dashboard of agents, jobs and throughput (Ctrl-C to quit)')
    .option('-i, --interval <seconds>', 'refresh every N seconds', '2')
    .option('-n, --iterations <n>', 'stop after N refreshes (default: until Ctrl-C)')
    .option('--json', 'print one JSON line per refresh instead of drawing')
    .action(async (o: { interval: string; iterations?: string; json?: boolean }) => {
      const every = toInt(o.interval, '--interval');
      if (every < 1) throw new CliError('--interval must be at least 1 second', EXIT.usage);
      const limit = o.iterations === undefined ? Infinity : toInt(o.iterations, '--iterations');
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      const tty = process.stdout.isTTY && !o.json;
      for (let i = 0; i < limit && !stop; i++) {
        const s = await collect(client());
        if (o.json) process.stdout.write(`${JSON.stringify(s)}\n`);
        // Clear and home the cursor, then draw, so the screen updates in place.
        else process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}${render(s)}\n${tty ? '' : '\n'}`);
        if (i + 1 < limit) await new Promise((r) => setTimeout(r, every * 1000));
      }
    });
}
