import { createServer, type Server } from 'node:net';
import { relayToBus } from '../shared/bus-relay.js';
import type { RuntimeLog } from '../shared/host-runtime.js';

/**
 * Sandboxes dial the bus at their bridge's gateway. On the control plane's host the flock's
 * own nats-server listens there; on a joined node the servers are whatever the cluster list
 * names (this host's member bound to one address, or servers on other hosts), so the node
 * listens on the gateway's bus port itself and relays each connection to the first server
 * that takes it (a sandbox whose server died reconnects through another, as relayed process
 * sandboxes do). The relay adds nothing to what a sandbox may do: NATS still checks its
 * credentials, and the host firewall still lets the bridge reach only this port.
 * A server already listening on every address of the host (a cluster member bound to
 * 0.0.0.0) serves the gateway itself: then there is no relay, and null is returned.
 */
export async function relayBusAtGateway(gatewayIp: string, port: number, servers: { host: string; port: number }[], log: RuntimeLog): Promise<Server | null> {
  const server = createServer((socket) => relayToBus(socket, servers));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, gatewayIp, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    log('info', `a bus server already listens on ${gatewayIp}:${port}: sandboxes reach it directly`);
    return null;
  }
  log('info', `relaying sandboxes' bus connections from ${gatewayIp}:${port} to ${servers.map((s) => `${s.host}:${s.port}`).join(', ')}`);
  return server;
}
