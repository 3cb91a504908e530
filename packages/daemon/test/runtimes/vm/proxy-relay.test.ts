import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyRelay, clientSocket, holdsSocket } from '../../../src/adapters/runtimes/vm/proxy-relay.js';

/*
 * How the vm runtime tells whose a connection to its egress relay is: the client end's socket
 * inode from /proc/net/tcp, found among the fds of an instance's processes. Real sockets,
 * real /proc; "an instance" here is a process tree the test starts.
 */
let server: Server;
let port: number;
const accepted: Socket[] = [];

beforeAll(async () => {
  server = createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  for (const s of accepted) s.destroy();
  server.close();
});

const dial = (to: number) => new Promise<Socket>((resolve, reject) => {
  const c = connect(to, '127.0.0.1', () => resolve(c));
  c.on('error', reject);
});

describe('the loopback peer of a relay connection', () => {
  it('is found in /proc/net/tcp by its ports, with its owner, and is held by the process that dialled', async () => {
    const c = await dial(port);
    const found = clientSocket(readFileSync('/proc/net/tcp', 'utf8'), c.localPort!, port);
    expect(found).not.toBeNull();
    expect(found!.uid).toBe(process.getuid!());
    expect(await holdsSocket([process.pid], found!.inode)).toBe(true);
    // Another process (one the test started) does not hold it: a guess of pids proves nothing.
    const other = spawn('sleep', ['30']);
    expect(await holdsSocket([other.pid!], found!.inode)).toBe(false);
    other.kill();
    // The server's end is another socket (listed with the ports the other way round).
    expect(clientSocket(readFileSync('/proc/net/tcp', 'utf8'), port, c.localPort!)?.inode).not.toBe(found!.inode);
    c.destroy();
  });

  it('the relay hands over only a connection whose client an instance holds, and closes any other unread', async () => {
    const handed: string[] = [];
    const asked: string[] = [];
    const relay = new ProxyRelay({
      proxy: { accept: (s, id) => (handed.push(id), s.end('handed')) },
      // "The instance": whatever holds the socket among this process's fds, if the flag says it is one.
      holderOf: async (inode) => (asked.push(inode), (await holdsSocket([process.pid], inode)) && admit ? 'alpha-12345678' : undefined),
      log: () => {},
    });
    let admit = false;
    const relayPort = await relay.listen();
    const read = async () => {
      const c = await dial(relayPort);
      c.write('GET http://example.invalid/ HTTP/1.1\r\n\r\n');
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      await new Promise((r) => c.on('close', r));
      return got;
    };
    expect(await read()).toBe('');
    expect(handed).toEqual([]);
    expect(asked).toHaveLength(1); // it was asked, with a real inode, and said no
    admit = true;
    expect(await read()).toBe('handed');
    expect(handed).toEqual(['alpha-12345678']);
    relay.close();
  });
});
