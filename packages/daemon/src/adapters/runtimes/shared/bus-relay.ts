import { connect, type Socket } from 'node:net';

/**
 * Joins a sandbox's connection on its Unix socket to the bus's TCP port: sandboxes without a
 * network (operator profile, process runtime) reach NATS this way. With several servers (a
 * node agent's cluster list) the first that accepts the connection is used, so a sandbox whose
 * server died reconnects through another. Either side closing or failing closes both.
 */
export function relayToBus(client: Socket, servers: { host: string; port: number }[]): void {
  client.pause();
  const attempt = (i: number): void => {
    const server = servers[i];
    if (!server) return void client.destroy();
    const up = connect(server.port, server.host);
    up.once('error', () => {
      up.destroy();
      attempt(i + 1);
    });
    up.once('connect', () => {
      up.removeAllListeners('error');
      client.pipe(up).pipe(client);
      client.resume();
      const close = () => (client.destroy(), up.destroy());
      client.on('error', close);
      up.on('error', close);
      client.on('close', close);
      up.on('close', close);
    });
  };
  client.on('error', () => client.destroy());
  attempt(0);
}
