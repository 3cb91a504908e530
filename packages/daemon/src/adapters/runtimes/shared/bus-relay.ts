import { connect, type Socket } from 'node:net';

/**
 * Joins a sandbox's connection on its Unix socket to the bus's TCP port: sandboxes without a
 * network (operator profile, process runtime) reach NATS this way. Either side closing or
 * failing closes both.
 */
export function relayToBus(client: Socket, busPort: number, busHost: string): void {
  const up = connect(busPort, busHost);
  client.pipe(up).pipe(client);
  const close = () => (client.destroy(), up.destroy());
  client.on('error', close);
  up.on('error', close);
  client.on('close', close);
  up.on('close', close);
}
