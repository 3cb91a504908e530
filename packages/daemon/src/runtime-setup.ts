import { join } from 'node:path';
import { egressRulesOf, parseEgressRules, type SecretService, type Store } from '@aiflock/core';
import type { Config } from './config.js';
import { EgressProxy, type EgressClient, type EgressLog } from './adapters/egress-proxy/egress-proxy.js';
import { hostPort, natsServers } from './adapters/nats/server-list.js';
import { runtimeFactory } from './adapters/runtimes/registry.js';
import type { HostRuntime, ProxyAcceptor, RuntimeContext } from './adapters/runtimes/shared/host-runtime.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { operatorSandboxes, type OperatorSandboxes } from './operator-sandboxes.js';

export interface RuntimeSetup {
  /** The main runtime, of the configured kind (see adapters/runtimes/registry.ts). */
  runtime: HostRuntime;
  /** The operator profile's runtime behind the router that the reconciler and kill switch drive. */
  operator: OperatorSandboxes;
  /** Where sandboxes dial the bus: the spawned server on the gateway, or an external one. */
  busUrlForSandboxes(): string;
  /** Hand the egress proxy to the runtimes that pass connections to it (it is built after them). */
  setProxy(proxy: ProxyAcceptor): void;
}

/**
 * An external NATS server, or a cluster's. Sandboxes dial one server: the first of NATS_URL on
 * this host (a cluster runs one per host: "sandboxes connect to the NATS server of their own
 * host"), reached through their bridge gateway (it must listen there, e.g. on 0.0.0.0); else
 * the first one listed, which needs a network sandboxes can route to. The daemon itself uses
 * the whole list and fails over (bus-setup.ts).
 */
function externalBus(url: string): { url: string; host: string; port: number; onThisHost: boolean } {
  const servers = natsServers(url);
  const local = servers.find((s) => ['127.0.0.1', 'localhost', '0.0.0.0', '[::1]'].includes(hostPort(s).host));
  const chosen = local ?? servers[0]!;
  return { url: chosen, ...hostPort(chosen), onThisHost: local !== undefined };
}

/** The sandbox runtimes, initialised: they must exist before the spawned nats-server can listen on their gateway. */
export async function setupRuntimes(config: Config, deps: { store: Store; logger: Logger }): Promise<RuntimeSetup> {
  const { logger } = deps;
  const external = config.nats.url ? externalBus(config.nats.url) : null;
  const runtimeLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: unknown) => logger[level](data ?? {}, msg);
  let proxy: ProxyAcceptor | null = null;
  const ctx: RuntimeContext = {
    flock: config.flock,
    node: config.node,
    dataDir: config.dataDir,
    settings: config.runtime,
    sharedDir: join(config.dataDir, 'shared'),
    secretsDir: config.runtime.secretsDir ?? join('/dev/shm', `aiflock-${config.flock}-secrets`),
    agentBundle: join(import.meta.dirname, '..', '..', 'agent', 'dist', 'bundle', 'agent.mjs'),
    // The one host port sandboxes may reach: the spawned server's, or an external one's.
    busPort: external?.port ?? config.nats.port,
    proxyPort: config.egress.port,
    // Late-bound: a connection handed over before the proxy exists is simply closed.
    proxy: { accept: (s, id) => (proxy ? proxy.accept(s, id) : s.destroy()) },
    store: deps.store,
    log: runtimeLog,
  };
  const factory = runtimeFactory(config.runtime.kind);
  const runtime = factory.create(ctx);
  await runtime.init();
  // Operator-profile sandboxes run on a second, user-namespace-remapped engine when one is
  // configured; the router sends each profile to its runtime and refuses what it cannot run.
  const operator = operatorSandboxes(factory, {
    ...ctx,
    store: deps.store,
    main: runtime,
    busHost: external && !external.onThisHost ? external.host : runtime.gatewayIp(),
  });
  await operator.router.initOperator();
  if (runtime.capabilities.weakerThanContainers) logger.warn({ isolation: runtime.isolation() }, `the ${runtime.kind} runtime is weaker than containers`);
  return {
    runtime,
    operator,
    busUrlForSandboxes: () => (external && !external.onThisHost ? external.url : runtime.busUrlForSandboxes()),
    setProxy(p) {
      proxy = p;
      operator.setProxy(p);
    },
  };
}

/**
 * The egress proxy, listening on the bridge gateway only; the firewall opens its port there.
 * A runtime whose sandboxes have no network at all (process) has no proxy (null). One whose
 * sandboxes have no address (vm guests) hands their connections over itself, naming each by
 * its instance: the proxy then listens on no port at all.
 */
export async function startEgressProxy(
  config: Config,
  runtimes: RuntimeSetup,
  deps: { store: Store; secrets: SecretService; metrics: Metrics; logger: Logger; egressLog?: EgressLog | undefined },
): Promise<EgressProxy | null> {
  const { runtime, operator } = runtimes;
  const { store, secrets, metrics, logger } = deps;
  if (!runtime.capabilities.egressProxy) return null;
  const egressProxy = new EgressProxy({
    host: runtime.gatewayIp(),
    port: config.egress.port,
    identify: async (address): Promise<EgressClient | undefined> => {
      const who = runtime.instanceAt(address) ?? operator.identify(address);
      if (!who) return undefined;
      const d = await store.deployments.get(who.agent);
      if (!d || d.state !== 'active' || egressRulesOf(d.manifest).length === 0) return undefined;
      return {
        agent: who.agent,
        instanceId: who.instanceId,
        rules: parseEgressRules(egressRulesOf(d.manifest)),
        credentialsFor: (host) => secrets.credentialsFor(d.manifest, host),
      };
    },
    log: (e) => {
      metrics.egress.inc({ agent: e.agent ?? 'unknown', allowed: String(e.allowed) });
      logger[e.allowed ? 'info' : 'warn']({ egress: e }, `egress ${e.allowed ? 'allowed' : 'denied'}: ${e.method} ${e.host}:${e.port}`);
      deps.egressLog?.(e);
    },
  });
  if (runtime.capabilities.network === 'bridge') await egressProxy.listen();
  runtimes.setProxy(egressProxy);
  return egressProxy;
}
