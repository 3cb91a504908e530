import type { Command } from 'commander';
import type { AgentView, JobList, SystemStatus, TaskThroughput } from '@aiflock/protocol';
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
    .description('one snapshot of agents, instances, jobs by status and throughput')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await collect(client());
      if (o.json) return printJson(s);
      println(render(s));
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
