import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { NatsClusterLayout, type NatsClusterFiles } from '@aiflock/protocol';
import type { AccountJwts, NatsTrust } from './trust.js';

const ROUTE_USER = 'aiflock-route';

/**
 * One nats-server config per server of the layout: JetStream clustered under the cluster's
 * name, routes to every other server (with a password made here, so nothing else on the
 * network can join as a route and read the flock's traffic), and the flock's trust chain
 * with a full resolver on each, so every server refuses what the control plane revoked (it
 * pushes account updates to all of them; the resolvers also sync among themselves).
 */
export async function clusterConfigs(trust: NatsTrust, accounts: AccountJwts, input: NatsClusterLayout, flock: string): Promise<NatsClusterFiles> {
  const layout = NatsClusterLayout.parse(input);
  const cluster = layout.cluster ?? `${flock}-nats`.replace(/[^A-Za-z0-9_-]/g, '-');
  const password = randomBytes(24).toString('base64url');
  const q = (v: string) => JSON.stringify(v);
  const servers = [];
  for (const s of layout.servers) {
    const dir = join(layout.storeDir, s.name);
    const routes = layout.servers.filter((o) => o !== s).map((o) => `nats-route://${ROUTE_USER}:${password}@${o.host}:${o.clusterPort}`);
    const config = [
      `# nats-server ${s.name} of cluster ${cluster}, for the aiflock flock ${flock} (written by aiflock nats cluster).`,
      `# Holds the route password: keep it 0600, readable by the nats-server user only.`,
      `server_name: ${q(s.name)}`,
      `listen: ${q(`${layout.clientListen}:${s.clientPort}`)}`,
      `http: ${q(`127.0.0.1:${s.monitorPort}`)}`,
      // nats-server keeps its streams under <store_dir>/jetstream.
      `jetstream { store_dir: ${q(dir)} }`,
      `cluster {`,
      `  name: ${q(cluster)}`,
      `  listen: ${q(`${s.host}:${s.clusterPort}`)}`,
      `  authorization { user: ${q(ROUTE_USER)}, password: ${q(password)} }`,
      `  routes: [`,
      ...routes.map((r) => `    ${q(r)}`),
      `  ]`,
      `}`,
      await trust.serverConfig(join(dir, 'jwt'), accounts),
    ].join('\n');
    servers.push({ name: s.name, config });
  }
  const natsUrl = layout.servers.map((s) => `nats://${s.host}:${s.clientPort}`).join(',');
  return { cluster, natsUrl, servers };
}
