import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A port on the host's loopback whose connections leave from inside another network
 * namespace (a sandbox's, `/proc/<pid>/ns/net`, or a test's own, `/run/netns/<name>`): to the
 * server they dial, they come from that namespace's address, as a client there would. The
 * two halves meet on a Unix socket in a directory of the test (nsenter changes only the
 * network namespace, so the file system is the host's). Needs root.
 */
export interface NamespaceRelay {
  /** `nats://127.0.0.1:<port>`-style address of the host end. */
  readonly port: number;
  close(): Promise<void>;
}

const INSIDE = `
const net = require('net');
const [sock, host, port] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
}).listen(sock, () => console.log('ready'));
`;

function pipe(a: Socket, b: Socket): void {
  a.pipe(b).pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

export async function relayFromNamespace(netns: string, target: { host: string; port: number }): Promise<NamespaceRelay> {
  const dir = await mkdtemp(join(tmpdir(), 'aiflock-relay-'));
  const sock = join(dir, 'relay.sock');
  const child: ChildProcess = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', INSIDE, sock, target.host, String(target.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the relay in ${netns} exited (${code}): ${err}`)));
  });
  const server: Server = createServer((c) => pipe(c, createConnection(sock)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the relay has no port');
  return {
    port: address.port,
    async close() {
      child.kill('SIGKILL');
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
