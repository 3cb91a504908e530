import { join } from 'node:path';
import { noBusCredentials, noCredentialRevoker, type Bus, type BusCredentials, type CredentialRevoker } from '@aiflock/core';
import type { NatsClusterFiles, NatsClusterLayout } from '@aiflock/protocol';
import type { Config } from './config.js';
import { clusterConfigs } from './adapters/nats/cluster-config.js';
import { openBusAuth, type BusAuth } from './adapters/nats/bus-auth.js';
import type { OperatorBusCredentials } from './http/context.js';
import { NatsBus } from './adapters/nats/nats-bus.js';
import type { NodeWire } from './nodes/node-wire.js';
import { NatsServerSupervisor } from './adapters/nats/server-supervisor.js';
import type { logFn } from './logger.js';
import type { RuntimeSetup } from './runtime-setup.js';
import { TaskTraces } from './telemetry/tracing.js';

export interface BusSetup {
  bus: Bus;
  /** The daemon's connection as it talks to joined nodes' agents (exec sessions, stats). */
  nodeWire: NodeWire;
  /** Per-instance JWT credentials, or none under nats.auth: none. */
  credentials: BusCredentials;
  /** Where the kill switch suspends and restores an instance's credentials. */
  revoker: CredentialRevoker;
  /** Credentials for an operator's own bus tools; null without bus auth. */
  adminCredentials: OperatorBusCredentials | null;
  /** The daemon's own connection URL: one server, or a cluster's separated by commas. */
  busUrl: string;
  /** The nats-server the daemon spawned; null when the bus is external. */
  supervisor: NatsServerSupervisor | null;
  /** Null under nats.auth: none. */
  busAuth: BusAuth | null;
}

/** The config lines an external NATS server needs to trust this flock (see docs/security.md). */
export async function natsServerConfig(config: Config, resolverDir: string): Promise<string> {
  const auth = await openBusAuth(config, join(config.dataDir, 'nats'), () => undefined);
  return auth.trust.serverConfig(resolverDir, await auth.credentials.accountJwts());
}

/** Config files for a cluster of nats-servers that all trust this flock (`aiflock nats cluster`, docs/scale-out.md). */
export async function natsClusterConfig(config: Config, layout: NatsClusterLayout): Promise<NatsClusterFiles> {
  const auth = await openBusAuth(config, join(config.dataDir, 'nats'), () => undefined);
  return clusterConfigs(auth.trust, await auth.credentials.accountJwts(), layout, config.flock);
}

/**
 * The bus: the flock's trust chain and credentials, nats-server spawned on the sandbox
 * gateway (unless an external one is configured) and the daemon's connection to it.
 */
export async function connectBus(config: Config, runtimes: RuntimeSetup, deps: { log: ReturnType<typeof logFn> }): Promise<BusSetup> {
  const { runtime, operator } = runtimes;
  const { log } = deps;
  const natsDir = join(config.dataDir, 'nats');
  // Some runtimes launch sandboxes as the sandbox user, who must reach the credentials
  // directory itself; the runtime says where it can (the data dir is 0700).
  const credentialMounts = runtime.credentialsRoot();
  // The spawned server sees each sandbox's own address on the flock's bridge, and the daemon's
  // relays (operator and process sandboxes) from the address it listens on; an external server
  // sees whatever the network between makes of them, so credentials are bound only here.
  const sourceBinding = config.nats.url ? undefined : { relayAddress: runtime.gatewayIp() };
  const busAuth =
    config.nats.auth === 'jwt' ? await openBusAuth(config, natsDir, log, credentialMounts, operator.router.hasOperatorEngine ? operator.credentialsOwner : undefined, sourceBinding) : null;
  let supervisor: NatsServerSupervisor | null = null;
  let busUrl = config.nats.url;
  if (!busUrl) {
    supervisor = new NatsServerSupervisor({
      host: runtime.gatewayIp(),
      port: config.nats.port,
      monitorPort: config.nats.monitorPort,
      dir: natsDir,
      binary: config.nats.binary,
      ...(busAuth ? { authConfig: async () => busAuth.trust.serverConfig(join(natsDir, 'jwt'), await busAuth.credentials.accountJwts()) } : {}),
      log,
    });
    await supervisor.start();
    busUrl = supervisor.url;
  }
  const natsBus = await NatsBus.connect({
    url: busUrl,
    log,
    traces: new TaskTraces(),
    ...(config.nats.replicas !== undefined ? { replicas: config.nats.replicas } : {}),
    ...(busAuth ? { authenticator: await busAuth.daemonAuthenticator() } : {}),
  });
  await natsBus.init();
  const credentials: BusCredentials = busAuth?.credentials ?? noBusCredentials;
  if (busAuth) await busAuth.credentials.start(busUrl);
  else log('warn', noBusCredentials.detail);
  const bus: Bus = natsBus;
  return {
    bus,
    nodeWire: natsBus.nodeWire(),
    credentials,
    revoker: busAuth ? { revoke: (id) => busAuth.credentials.suspend(id), restore: (id) => busAuth.credentials.restore(id) } : noCredentialRevoker,
    adminCredentials: busAuth
      ? {
          issue: (name, ttl) => busAuth.credentials.adminCreds(name, ttl),
          list: () => busAuth.credentials.listAdminCreds(),
          revoke: (id) => busAuth.credentials.revokeAdminCreds(id),
        }
      : null,
    busUrl,
    supervisor,
    busAuth,
  };
}
