import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface TestNatsServer {
  url: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Start a real nats-server with JetStream on random loopback ports, with its store in a
 * fresh temporary directory. Never a public host.
 */
export async function startNatsServer(opts: { host?: string; port?: number; args?: string[]; config?: string } = {}): Promise<TestNatsServer> {
  const host = opts.host ?? '127.0.0.1';
  // A given port brings a server back where its clients expect it (restart tests).
  const port = opts.port ?? (await freePort(host));
  const monitorPort = await freePort('127.0.0.1');
  const storeDir = await mkdtemp(join(tmpdir(), 'aiflock-nats-'));
  // Flags override the file, so a config only adds what flags cannot say (e.g. the trust chain).
  const configArgs: string[] = [];
  if (opts.config !== undefined) {
    const file = join(storeDir, 'nats.conf');
    await writeFile(file, opts.config, { mode: 0o600 });
    configArgs.push('-c', file);
  }
  const proc = spawn(
    'nats-server',
    [...configArgs, '-a', host, '-p', String(port), '-http_port', String(monitorPort), '-js', '-sd', storeDir, ...(opts.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(host, port, 10_000, () => (proc.exitCode !== null ? `nats-server exited: ${stderr}` : null));
  return {
    url: `nats://${host}:${port}`,
    port,
    monitorPort,
    storeDir,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

export async function waitForPort(host: string, port: number, timeoutMs: number, failed?: () => string | null): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const why = failed?.();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, host);
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
