import { spawn } from 'node:child_process';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { processAlive } from '../../process-alive.js';

export interface NatsServerOptions {
  /** Address nats-server listens on (the sandbox bridge's gateway, so sandboxes reach it). */
  host: string;
  port: number;
  /** Monitoring port, always bound to loopback. */
  monitorPort: number;
  dir: string;
  binary?: string;
  /**
   * Authentication lines for the server config (the flock's operator and accounts), read at
   * every (re)start so a restarted server gets the current revocations. None: no auth.
   */
  authConfig?: () => Promise<string>;
  log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/**
 * Spawns nats-server (JetStream on, data under the data dir) detached, so that it and the
 * agents keep running while the daemon restarts; a restarted daemon adopts it through its
 * pid file. While the daemon runs, a dead server is restarted.
 */
export class NatsServerSupervisor {
  private timer: NodeJS.Timeout | null = null;
  private restarting = false;

  constructor(private readonly opts: NatsServerOptions) {}

  get url(): string {
    return `nats://${this.opts.host}:${this.opts.port}`;
  }

  private get pidFile(): string {
    return join(this.opts.dir, 'nats.pid');
  }

  async start(): Promise<'started' | 'adopted'> {
    await mkdir(join(this.opts.dir, 'jetstream'), { recursive: true });
    const pid = await this.pid();
    if (pid && processAlive(pid) && (await reachable(this.opts.host, this.opts.port))) {
      if ((await this.runningAuthMode()) === this.authMode) {
        this.opts.log('info', `adopted running nats-server (pid ${pid}) at ${this.url}`);
        this.watch();
        return 'adopted';
      }
      // Adopting it would keep the bus open (or locked) against what the config now says.
      this.opts.log('warn', `restarting nats-server (pid ${pid}): it runs with authentication "${await this.runningAuthMode()}", the config asks for "${this.authMode}"`);
      await this.stop();
    }
    await this.spawnServer();
    this.watch();
    return 'started';
  }

  /** Stop supervising; the server keeps running (the daemon is restarting, not the flock). */
  detach(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stop the server itself (`aiflock down`). */
  async stop(): Promise<void> {
    this.detach();
    const pid = await this.pid();
    if (!pid || !processAlive(pid)) return;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(100);
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }

  async running(): Promise<boolean> {
    const pid = await this.pid();
    return pid !== null && processAlive(pid);
  }

  private async spawnServer(): Promise<void> {
    const { host, port, monitorPort, dir } = this.opts;
    const conf = join(dir, 'nats.conf');
    await writeFile(
      conf,
      [
        `# auth: ${this.authMode}`,
        `server_name: aiflock`,
        `listen: "${host}:${port}"`,
        `http: "127.0.0.1:${monitorPort}"`,
        `pid_file: "${this.pidFile}"`,
        `max_payload: 8MB`,
        `jetstream { store_dir: "${join(dir, 'jetstream')}" }`,
        (await this.opts.authConfig?.()) ?? '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const out = await open(join(dir, 'nats-server.log'), 'a');
    const child = spawn(this.opts.binary ?? 'nats-server', ['-c', conf], { detached: true, stdio: ['ignore', out.fd, out.fd] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.once('error', () => undefined);
    child.unref();
    await out.close();
    const until = Date.now() + 15_000;
    while (!(await reachable(host, port))) {
      const code = await Promise.race([exited, sleep(100).then(() => undefined)]);
      if (code !== undefined) throw new Error(`nats-server exited with code ${code}; see ${join(dir, 'nats-server.log')}`);
      if (Date.now() > until) throw new Error(`nats-server did not listen on ${host}:${port} within 15 s`);
    }
    this.opts.log('info', `started nats-server (pid ${child.pid}) at ${this.url}`);
  }

  private watch(): void {
    this.detach();
    this.timer = setInterval(() => void this.check(), 2_000);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (this.restarting || (await this.running())) return;
    this.restarting = true;
    this.opts.log('warn', 'nats-server is not running; restarting it');
    try {
      await this.spawnServer();
    } catch (err) {
      this.opts.log('error', `could not restart nats-server: ${String(err)}`);
    } finally {
      this.restarting = false;
    }
  }

  private get authMode(): string {
    return this.opts.authConfig ? 'jwt' : 'none';
  }

  /** What the running server was started with, from the marker on the config's first line. */
  private async runningAuthMode(): Promise<string> {
    const first = (await readFile(join(this.opts.dir, 'nats.conf'), 'utf8').catch(() => '')).split('\n')[0] ?? '';
    return /^# auth: (\S+)/.exec(first)?.[1] ?? 'none';
  }

  private async pid(): Promise<number | null> {
    try {
      const n = Number((await readFile(this.pidFile, 'utf8')).trim());
      return Number.isInteger(n) && n > 0 ? n : null;
    } catch {
      return null;
    }
  }
}


function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, host);
    s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
