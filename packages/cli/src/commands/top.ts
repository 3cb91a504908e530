import type { Command } from 'commander';
import type { InstanceStats } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { FullScreen, type Line } from '../tui/screen.js';
import { sparkline } from '../tui/sparkline.js';
import { bytes, collect, measure, ms, render, type FlockStats } from './stats.js';
import { toInt } from './shared.js';

/** How the instance table is ordered; the key that picks it. */
const SORTS = { c: 'cpu', m: 'memory', n: 'name', r: 'restarts' } as const;
type Sort = (typeof SORTS)[keyof typeof SORTS];

export interface TopFrame {
  stats: FlockStats;
  instances: InstanceStats[];
  /** Tasks finished per second, one value per refresh, oldest first. */
  history: number[];
  sort: Sort;
  apiUrl: string;
  every: number;
}

const STATUS_STYLE: Record<string, string> = { running: '32', ready: '32', starting: '33', degraded: '33', unhealthy: '33', paused: '35', quarantined: '35', stopped: '90', exited: '31', failing: '31', failed: '31' };
const statusSeg = (status: string) => ({ text: status, style: STATUS_STYLE[status] ?? '' });

function sortInstances(list: InstanceStats[], sort: Sort): InstanceStats[] {
  const key: Record<Sort, (i: InstanceStats) => number | string> = {
    cpu: (i) => -(i.usage?.cpuPercent ?? -1),
    memory: (i) => -(i.usage?.memoryBytes ?? -1),
    restarts: (i) => -(i.usage?.restarts ?? -1),
    name: (i) => i.id,
  };
  const k = key[sort];
  return [...list].sort((a, b) => {
    const x = k(a);
    const y = k(b);
    return x < y ? -1 : x > y ? 1 : a.id.localeCompare(b.id);
  });
}

/** Columns padded to fixed widths, so a cut line still lines up. */
const cols = (cells: [string, number][]) => cells.map(([t, w]) => (t.length > w ? `${t.slice(0, w - 1)}…` : t.padEnd(w))).join(' ');

/** The dashboard as lines, for a screen `width` columns wide and `height` rows tall. Pure, so it is tested without a terminal. */
export function topLines(f: TopFrame, width: number, height: number): { line: Line; bar?: boolean }[] {
  const s = f.stats;
  const t = s.throughput;
  const rate = t ? t.perSecond : s.finishedLastMinute / 60;
  const jobs = Object.entries(s.jobs).map(([k, v]) => `${k} ${v}`).join('  ') || 'none';
  const lines: { line: Line; bar?: boolean }[] = [
    { line: [{ text: ` aiflock top  ${f.apiUrl}  ${s.at.slice(11, 19)}  every ${f.every}s`, style: '1;7' }], bar: true },
    { line: [{ text: ' instances ', style: '1' }, { text: `${s.instances.running}/${s.instances.desired} running`, style: s.instances.running < s.instances.desired ? '33' : '32' }, { text: '   jobs ', style: '1' }, { text: jobs }] },
    {
      line: [
        { text: ' throughput ', style: '1' },
        { text: `${rate.toFixed(rate >= 10 ? 0 : 2)}/s `, style: '36' },
        { text: sparkline(f.history, Math.max(8, Math.min(40, width - 40))), style: '36' },
        { text: t?.latencyMs ? `  p50 ${ms(t.latencyMs.p50)} p90 ${ms(t.latencyMs.p90)} p99 ${ms(t.latencyMs.p99)}` : '' },
      ],
    },
    { line: [] },
    { line: [{ text: ` ${cols([['AGENT', 20], ['STATUS', 11], ['READY', 7], ['RUNNING', 7]])}`, style: '1;4' }] },
  ];
  const agentRows = Math.max(1, Math.min(s.agents.length, Math.floor((height - 10) / 2)));
  for (const a of s.agents.slice(0, agentRows)) {
    lines.push({ line: [{ text: ` ${cols([[a.name, 20]])} ` }, statusSeg(a.status), { text: ' '.repeat(Math.max(1, 12 - a.status.length)) + cols([[`${a.ready}/${a.desired}`, 7], [String(a.running), 7]]) }] });
  }
  if (s.agents.length === 0) lines.push({ line: [{ text: ' no agents deployed', style: '90' }] });
  else if (s.agents.length > agentRows) lines.push({ line: [{ text: ` … ${s.agents.length - agentRows} more`, style: '90' }] });
  lines.push({ line: [] });
  lines.push({ line: [{ text: ` ${cols([['INSTANCE', 22], ['STATUS', 9], ['CPU%', 6], ['MEMORY', 17], ['PIDS', 5], ['RESTARTS', 8]])}`, style: '1;4' }] });
  const room = Math.max(0, height - lines.length - 1);
  const sorted = sortInstances(f.instances, f.sort);
  for (const i of sorted.slice(0, room)) {
    const u = i.usage;
    const mem = u ? `${bytes(u.memoryBytes)}/${bytes(u.memoryLimitBytes)}` : '-';
    const cpuStyle = u && u.cpuPercent >= 80 ? '31' : '';
    lines.push({
      line: [
        { text: ` ${cols([[i.id, 22]])} ` },
        statusSeg(i.status),
        { text: ' '.repeat(Math.max(1, 10 - i.status.length)) },
        { text: cols([[u ? u.cpuPercent.toFixed(1) : '-', 6]]), style: cpuStyle },
        { text: ` ${cols([[mem, 17], [u ? String(u.pids) : '-', 5], [u ? String(u.restarts) : '-', 8]])}`, style: u && u.restarts > 0 ? '33' : '' },
      ],
    });
  }
  if (f.instances.length === 0) lines.push({ line: [{ text: ' no instances', style: '90' }] });
  // The footer sits on the last row.
  while (lines.length < height - 1) lines.push({ line: [] });
  // What is in force first, so a narrow terminal cuts the key list, not the current sort.
  lines.push({ line: [{ text: ` sorted by ${f.sort} │ q quit  c cpu  m memory  n name  r restarts`, style: '7' }], bar: true });
  return lines;
}

export function topCommand(program: Command, client: () => ApiClient): void {
  program
    .command('top')
    .description('live full-screen dashboard of agents, jobs, throughput and each instance\'s CPU and memory (q to quit; c, m, n, r sort)')
    .option('-i, --interval <seconds>', 'refresh every N seconds', '2')
    .option('-n, --iterations <n>', 'stop after N refreshes (default: until q or Ctrl-C)')
    .option('--json', 'print one JSON line per refresh instead of drawing')
    .action(async (o: { interval: string; iterations?: string; json?: boolean }) => {
      const every = toInt(o.interval, '--interval');
      if (every < 1) throw new CliError('--interval must be at least 1 second', EXIT.usage);
      const limit = o.iterations === undefined ? Infinity : toInt(o.iterations, '--iterations');
      const api = client();
      // Not a terminal (a pipe, a file, --json): one plain frame after another, as before.
      if (o.json || !process.stdout.isTTY) return plainFrames(api, every, limit, !!o.json);
      await dashboard(api, every, limit);
    });
}

async function plainFrames(api: ApiClient, every: number, limit: number, json: boolean): Promise<void> {
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  for (let i = 0; i < limit && !stop; i++) {
    const s = await collect(api);
    process.stdout.write(json ? `${JSON.stringify(s)}\n` : `${render(s)}\n\n`);
    if (i + 1 < limit) await new Promise((r) => setTimeout(r, every * 1000));
  }
}

async function dashboard(api: ApiClient, every: number, limit: number): Promise<void> {
  const screen = new FullScreen(process.stdout, process.stdin);
  let sort: Sort = 'cpu';
  let frame: TopFrame | null = null;
  let quit: () => void = () => {};
  const quitting = new Promise<void>((r) => (quit = r));
  let done = false;
  const redraw = () => {
    if (frame && !done) screen.draw(topLines({ ...frame, sort }, screen.size.cols, screen.size.rows));
  };
  screen.enter(
    (key) => {
      // q, Ctrl-C (raw mode delivers it as a key) and Esc quit.
      if (key === 'q' || key === '\x03' || key === '\x1b') quit();
      else if (key in SORTS) {
        sort = SORTS[key as keyof typeof SORTS];
        redraw();
      }
    },
    redraw,
  );
  process.once('SIGTERM', quit);
  const history: number[] = [];
  try {
    for (let i = 0; i < limit; i++) {
      const [stats, instances] = await Promise.race([Promise.all([collect(api), measure(api)]), quitting.then(() => null)]) ?? [null, null];
      if (!stats) break;
      history.push(stats.throughput ? stats.throughput.perSecond : stats.finishedLastMinute / 60);
      if (history.length > 200) history.shift();
      frame = { stats, instances: instances!, history, sort, apiUrl: api.baseUrl, every };
      redraw();
      if (i + 1 < limit) await Promise.race([new Promise((r) => setTimeout(r, every * 1000)), quitting]);
    }
  } finally {
    done = true;
    screen.leave();
    process.off('SIGTERM', quit);
  }
}
