import { connect, createServer } from 'node:net';

/**
 * For sandboxes with no network at all (the process runtime): the bus is a Unix socket bound
 * into the sandbox, and this relays a loopback TCP port to it so the NATS client can connect
 * as usual. Listens on 127.0.0.1 inside the sandbox's own network namespace only.
 */
export async function startBusRelay(socketPath: string, natsUrl: string): Promise<void> {
  const port = Number(new URL(natsUrl.replace(/^nats:/, 'http:')).port || 4222);
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
