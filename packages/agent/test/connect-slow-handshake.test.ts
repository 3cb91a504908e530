import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { connectWithRetry, connectTimeoutMs } from '../src/connect.js';
import { Logger } from '../src/logger.js';

/*
 * A bus whose handshake is slower than the first attempt's limit, as a VM guest under software
 * emulation sees it: a relay in front of a real nats-server holds the server's greeting for
 * 6 s on every connection. The first attempt (5 s) gives up; the next, with a longer limit,
 * gets through. With a limit that stayed at 5 s no attempt ever would.
 */
const HOLD_MS = 6_000;
let nats: TestNatsServer;
let relay: Server;
let relayPort = 0;
let connections = 0;
const sockets: Socket[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  relay = createServer((client) => {
    connections++;
    const server = createConnection(nats.port, '127.0.0.1');
    sockets.push(client, server);
    client.pipe(server);
    server.pause();
    setTimeout(() => server.pipe(client), HOLD_MS);
    const close = () => (client.destroy(), server.destroy());
    client.on('error', close).on('close', close);
    server.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayPort = (relay.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  relay?.close();
  await nats?.stop();
});

it('the handshake limit grows with each attempt, so a slow bus is joined', async () => {
  expect([0, 1, 2, 3, 4].map(connectTimeoutMs)).toEqual([5_000, 10_000, 20_000, 30_000, 30_000]);
  const log = new Logger({ instanceId: 'slow-1', agent: 'slow', stdout: false });
  const nc = await connectWithRetry({ url: `nats://127.0.0.1:${relayPort}`, name: 'slow-1', log, signal: new AbortController().signal });
  expect(nc).not.toBeNull();
  // It works over the slow path: a round trip through the relay.
  expect(await nc!.rtt()).toBeGreaterThanOrEqual(0);
  // The first attempt timed out at 5 s; the second waited out the 6 s greeting.
  expect(connections).toBe(2);
  await nc!.close();
}, 60_000);
