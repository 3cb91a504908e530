import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { ProxyAcceptor, RuntimeLog } from '../shared/host-runtime.js';

/**
 * The guests' way to the egress proxy. A guest has no address the proxy could name it by:
 * QEMU's guestfwd runs `busybox nc 127.0.0.1 <port>` for each guest connection (as it does
 * for the bus), and this loopback listener takes those connections. Loopback is open to every
 * local process, so a connection counts as an instance's only when the process at its other
 * end lives in that instance's cgroup, which neither a guest nor any other local user can
 * choose; it is then handed to the proxy under the instance's name. Anything else is closed
 * unread, so no host process can borrow an agent's egress rules or brokered credentials.
 */
export class ProxyRelay {
  private server: Server | null = null;

  constructor(
    private readonly opts: {
      proxy: ProxyAcceptor;
      /** The instance whose cgroup holds a process with this socket inode open, if any. */
      holderOf(inode: string, uid: number): Promise<string | undefined>;
      log: RuntimeLog;
    },
  ) {}

  /** Listens on an ephemeral loopback port; returns it (the guests' forwards dial it). */
  async listen(): Promise<number> {
    const server = createServer((socket) => void this.take(socket));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    this.server = server;
    return this.port;
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** Stops listening; connections already handed over are the proxy's to end. */
  close(): void {
    this.server?.close();
    this.server = null;
  }

  private async take(socket: Socket): Promise<void> {
    socket.on('error', () => socket.destroy());
    const client = clientSocket(await readFile('/proc/net/tcp', 'utf8').catch(() => ''), socket.remotePort ?? 0, this.port);
    const instanceId = client ? await this.opts.holderOf(client.inode, client.uid) : undefined;
    if (!instanceId) {
      this.opts.log('warn', `egress relay: a connection from 127.0.0.1:${socket.remotePort} is no guest's: closed`);
      socket.destroy();
      return;
    }
    this.opts.proxy.accept(socket, instanceId);
  }
}

/**
 * The client end of a loopback TCP connection to `serverPort` from `clientPort`, as
 * /proc/net/tcp lists it: its socket inode and owner uid. Null when not listed (the client
 * has gone).
 */
export function clientSocket(procNetTcp: string, clientPort: number, serverPort: number): { inode: string; uid: number } | null {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(clientPort)}`;
  const remote = `0100007F:${hex(serverPort)}`;
  for (const line of procNetTcp.split('\n').slice(1)) {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote && f[9] !== undefined && f[9] !== '0') return { inode: f[9], uid: Number(f[7]) };
  }
  return null;
}

/** Whether one of `pids` has the socket with this inode open. */
export async function holdsSocket(pids: readonly number[], inode: string): Promise<boolean> {
  const target = `socket:[${inode}]`;
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === target) return true;
    }
  }
  return false;
}
