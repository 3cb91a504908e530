import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';

/**
 * A stand-in for "a host out there", made of a network namespace this test owns: a veth pair
 * from the host into it, an address in the benchmarking range (198.18.0.0/15, RFC 2544: for
 * exactly this, never routed on the internet) and, when asked, more addresses routed to it
 * (a link-local one, to play cloud metadata). Tests that must prove "nothing leaves" aim at it
 * and check nothing arrived, instead of dialling an address outside the machine; tests that
 * need an allow-listed upstream serve it from here, which is what a remote host looks like to
 * the egress proxy (not one of the host's own addresses, which the proxy refuses).
 *
 * Needs root and `ip` (iproute2). Every name is random, and `close()` removes the namespace
 * (and with it the veth pair and its routes), so tests running side by side do not meet.
 */
export interface RemoteHost {
  /** The namespace's name (`ip netns exec <name> ...`). */
  readonly ns: string;
  /** The namespace's own address, routed from the host. */
  readonly address: string;
  /** The host's end of the veth pair: where the namespace reaches the host's own services. */
  readonly hostAddress: string;
  /** Extra addresses the namespace answers on (routed from the host to it). */
  readonly extra: readonly string[];
  /** Every connection or HTTP request a listener of `serve` saw, in order. */
  readonly seen: RemoteEvent[];
  /**
   * Listen on `ports` on every address of the namespace: each connection is recorded, and
   * HTTP requests are answered `upstream says hi to <path>` (status 200).
   */
  serve(ports: number[]): Promise<void>;
  /** Run `node -e script` inside the namespace (a site of the test's own); resolves once it prints "ready". */
  run(script: string): Promise<ChildProcess>;
  /**
   * The control that the host is up: the host itself connects to `address:port` and this
   * waits until the listener has recorded it, so events after it are someone else's.
   */
  reachableFromHost(address: string, port: number): Promise<boolean>;
  close(): Promise<void>;
}

export type RemoteEvent =
  | { kind: 'connection'; port: number; from: string }
  | { kind: 'request'; port: number; from: string; method: string; url: string; headers: Record<string, string | string[] | undefined> };

const LISTENER = `
const http = require('http');
const ports = process.argv.slice(1).map(Number);
let up = 0;
for (const port of ports) {
  const srv = http.createServer((req, res) => {
    console.log(JSON.stringify({ kind: 'request', port, from: req.socket.remoteAddress, method: req.method, url: req.url, headers: req.headers }));
    res.end('upstream says hi to ' + req.url);
  });
  srv.on('connection', (s) => console.log(JSON.stringify({ kind: 'connection', port, from: s.remoteAddress })));
  srv.listen(port, '0.0.0.0', () => { if (++up === ports.length) console.log(JSON.stringify({ kind: 'ready' })); });
}
`;

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

/** A random /30 in 198.18.0.0/16: host end .1, namespace end .2. (198.19/16 is for `extra`.) */
function randomLink(): { host: string; remote: string } {
  const block = randomInt(0, 2 ** 14) * 4;
  const a = (n: number) => `198.18.${(n >> 8) & 255}.${n & 255}`;
  return { host: a(block + 1), remote: a(block + 2) };
}

/**
 * Make a remote host. `extra` addresses (e.g. `randomLinkLocal()`) are added in the namespace
 * and routed to it from the host.
 */
export async function remoteHost(opts: { extra?: string[]; bridge?: boolean } = {}): Promise<RemoteHost> {
  const id = randomBytes(4).toString('hex');
  const ns = `aifl-t${id}`;
  const hostIf = `aft${id}h`;
  const nsIf = `aft${id}n`;
  // With `bridge`, the host's address sits on a bridge of the test's own with the veth in it,
  // as a second host on a switched network would see the first.
  const bridge = opts.bridge ? `afb${id}` : null;
  const link = randomLink();
  const extra = opts.extra ?? [];
  const seen: RemoteEvent[] = [];
  const listeners: ChildProcess[] = [];
  ip(['netns', 'add', ns]);
  try {
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
    if (bridge) {
      ip(['link', 'add', bridge, 'type', 'bridge']);
      ip(['link', 'set', hostIf, 'master', bridge]);
      ip(['addr', 'add', `${link.host}/30`, 'dev', bridge]);
      ip(['link', 'set', bridge, 'up']);
    } else ip(['addr', 'add', `${link.host}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['-n', ns, 'addr', 'add', `${link.remote}/30`, 'dev', nsIf]);
    for (const a of extra) ip(['-n', ns, 'addr', 'add', `${a}/32`, 'dev', nsIf]);
    ip(['-n', ns, 'link', 'set', nsIf, 'up']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'route', 'add', 'default', 'via', link.host]);
    for (const a of extra) ip(['route', 'add', `${a}/32`, 'via', link.remote, 'dev', hostIf]);
  } catch (err) {
    if (bridge) spawnSync('ip', ['link', 'del', bridge]);
    spawnSync('ip', ['netns', 'del', ns]);
    throw err;
  }
  return {
    ns,
    address: link.remote,
    hostAddress: link.host,
    extra,
    seen,
    async serve(ports) {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', LISTENER, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
      listeners.push(child);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the listener in ${ns} exited (${code}): ${stderr}`)));
        createInterface({ input: child.stdout }).on('line', (line) => {
          const e = JSON.parse(line) as RemoteEvent | { kind: 'ready' };
          if (e.kind === 'ready') resolve();
          else seen.push(e);
        });
      });
    },
    run(script) {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      listeners.push(child);
      return new Promise((resolve, reject) => {
        let out = '';
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) resolve(child);
        });
        child.once('exit', (code) => reject(new Error(`the server in ${ns} exited (${code}): ${err}`)));
      });
    },
    async reachableFromHost(address, port) {
      const count = seen.length;
      if (!(await connectsFromHost(address, port))) return false;
      for (let i = 0; i < 50; i++) {
        if (seen.slice(count).some((e) => e.kind === 'connection' && e.port === port && e.from === link.host)) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    },
    async close() {
      for (const c of listeners) c.kill('SIGKILL');
      // Whatever still runs in the namespace (a node agent's sandboxes) ends with the "host".
      for (const pid of spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      spawnSync('ip', ['link', 'del', hostIf]);
      if (bridge) spawnSync('ip', ['link', 'del', bridge]);
      spawnSync('ip', ['netns', 'del', ns]);
    },
  };
}

/** A random address in 198.19.0.0/16 (benchmarking range) for a remote host's `extra`. */
export const randomBenchmarkAddress = (): string => `198.19.${randomInt(0, 256)}.${randomInt(1, 255)}`;

/** A random link-local address below 169.254.169.0/24, so never the cloud metadata address, which another test may hold. */
export const randomLinkLocal = (): string => `169.254.${randomInt(1, 169)}.${randomInt(1, 255)}`;

/** Whether the host itself can open a TCP connection there. */
const connectsFromHost = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createConnection(port, host);
    s.setTimeout(3000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
