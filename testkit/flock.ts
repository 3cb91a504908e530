import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './ports.js';
import { apiFetch } from './api-fetch.js';
import { CLI, runCli, type CliResult } from './cli.js';
import { mountsUnder, unmountAll } from './mounts.js';
import { watchFlockLog } from './on-failure.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
/** A stop longer than this is reported with the daemon's log of it. */
const SLOW_DOWN_MS = 30_000;

export type { CliResult } from './cli.js';

export interface TestFlock {
  name: string;
  home: string;
  env: NodeJS.ProcessEnv;
  apiUrl: string;
  /** Runs the CLI; it authenticates with the daemon's admin token file unless `token` is given. */
  cli(args: string[], opts?: { timeoutMs?: number; token?: string }): Promise<CliResult>;
  cliJson<T>(args: string[]): Promise<T>;
  /** Calls the API as admin by default, with `token` if given, or with none when `token` is null. */
  api(
    path: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string | null },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test code reads arbitrary JSON bodies
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** The admin token the daemon wrote on its first start. */
  adminToken(): Promise<string>;
  /**
   * The daemon's log once it shows `pattern`. The daemon writes its log asynchronously, so a
   * line for something that just happened may land a moment after the HTTP answer did.
   */
  logShowing(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** SIGKILLs the daemon (no clean stop, no snapshot) and resolves once it is gone. Agents keep running. */
  killDaemon(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A private flock for one test file: its own data dir, flock name (so its own Docker
 * network and firewall chain), API and NATS ports. Drives the real, built CLI.
 */
export async function testFlock(opts: { env?: Record<string, string> } = {}): Promise<TestFlock> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (scripts/test.sh does) before the integration tests`);
  const name = `t${Math.random().toString(36).slice(2, 9)}`;
  const home = await mkdtemp(join(tmpdir(), 'aiflock-e2e-'));
  const apiPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AIFLOCK_HOME: home,
    AIFLOCK_FLOCK: name,
    AIFLOCK_API_PORT: String(apiPort),
    AIFLOCK_NATS_PORT: String(await freePort('0.0.0.0')),
    AIFLOCK_NATS_MONITOR_PORT: String(await freePort()),
    AIFLOCK_LOG_LEVEL: 'debug',
    // MiniLM costs each daemon ~2 s of CPU and 150 MB to load: flocks that test something else
    // embed by hashing; the tests of the default embedder ask for it (env AIFLOCK_EMBEDDER).
    AIFLOCK_EMBEDDER: 'hashing',
    ...opts.env,
  };
  delete env['AIFLOCK_API'];
  delete env['NATS_URL'];
  delete env['AIFLOCK_TOKEN'];
  const adminToken = async () => (await readFile(join(home, 'admin.token'), 'utf8')).trim();
  const unwatch = watchFlockLog(home);
  const apiUrl = `http://127.0.0.1:${apiPort}`;

  const cli = (args: string[], opts: { timeoutMs?: number; token?: string } = {}): Promise<CliResult> =>
    runCli(args, { env: opts.token ? { ...env, AIFLOCK_TOKEN: opts.token } : env, timeoutMs: opts.timeoutMs ?? 240_000 });

  return {
    name,
    home,
    env,
    apiUrl,
    cli,
    async cliJson<T>(args: string[]) {
      const r = await cli([...args, '--json']);
      if (r.code !== 0) throw new Error(`aiflock ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    adminToken,
    async api(path, init = {}) {
      return apiFetch(apiUrl, path, init, init.token === undefined ? await adminToken() : init.token);
    },
    async logShowing(pattern, timeoutMs = 15_000) {
      const shows = (log: string) => (typeof pattern === 'string' ? log.includes(pattern) : pattern.test(log));
      return eventually(async () => {
        const log = await readFile(join(home, 'daemon.log'), 'utf8').catch(() => '');
        return shows(log) ? log : '';
      }, `the daemon log to show ${String(pattern)}`, timeoutMs);
    },
    async killDaemon() {
      const { pid } = JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')) as { pid: number };
      process.kill(pid, 'SIGKILL');
      await eventually(async () => !isAlive(pid), `daemon ${pid} gone`);
    },
    async cleanup() {
      unwatch();
      const began = Date.now();
      const down = await cli(['down'], { timeoutMs: 90_000 });
      // A slow stop costs every test file's run: say where it went (the daemon logs its stop steps).
      if (Date.now() - began > SLOW_DOWN_MS) {
        const log = await readFile(join(home, 'daemon.log'), 'utf8').catch(() => '');
        const stop = log.slice(log.lastIndexOf('aiflock daemon stopping') - 200);
        console.warn(`aiflock down took ${Date.now() - began} ms (exit ${down.code}); the daemon's stop:\n${stop.split('\n').slice(-40).join('\n')}`);
      }
      // `down` releases every volume; one a crashed test left behind must not make rm fail.
      const left = existsSync(home) ? mountsUnder(home) : [];
      if (left.length > 0) {
        console.warn(`still mounted after aiflock down, detaching: ${left.join(', ')}`);
        unmountAll(left);
      }
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** The process exists (signal 0 reaches it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Poll until `check` returns a truthy value, or fail with the last value seen. */
export async function eventually<T>(check: () => Promise<T>, what: string, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < until) {
    last = await check();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last saw ${JSON.stringify(last)}`);
}
