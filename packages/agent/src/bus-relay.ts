import { connect, createServer } from 'node:net';

/**
 * For sandboxes with no network at all (the process runtime, operator sandboxes): the bus
 * (and, for operator sandboxes with egress rules, the egress proxy) is a Unix socket bound
 * into the sandbox, and this relays a loopback TCP port to it so clients connect as usual.
 * Listens on 127.0.0.1 inside the sandbox's own network namespace only.
 */
export async function startSocketRelay(socketPath: string, port: number): Promise<void> {
  const server = createServer((client) => {
    const upstream = connect(socketPath);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  server.unref();
}

/** The bus relay: the loopback port is the one AIFLOCK_NATS_URL names. */
export async function startBusRelay(socketPath: string, natsUrl: string): Promise<void> {
  await startSocketRelay(socketPath, portOf(natsUrl, 4222));
}

/** The egress-proxy relay: the loopback port is the one HTTP_PROXY names. */
export async function startProxyRelay(socketPath: string, proxyUrl: string): Promise<void> {
  await startSocketRelay(socketPath, portOf(proxyUrl, 3128));
}

/** The port of `url`, or of the first server of a comma-separated list. */
function portOf(url: string, fallback: number): number {
  const first = url.split(',')[0]!.trim();
  return Number(new URL(first.replace(/^nats:/, 'http:')).port || fallback);
}
