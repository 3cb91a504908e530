import { mkdir, writeFile } from 'node:fs/promises';
import { instanceStatsOf } from './instance-stats.js';
import { sandboxExecOf } from './sandbox-exec.js';
import { RemoteSandboxes } from './nodes/remote-sandboxes.js';
import { Delegation, FlockError, mountClaimOps, mountDelegationOps, mountPullOps, systemClock, type Clock, type CredentialRevoker } from '@aiflock/core';
import type { LlmReloaded } from '@aiflock/protocol';
import type { Config } from './config.js';
import type { EgressLog } from './adapters/egress-proxy/egress-proxy.js';
import type { AnnounceToken } from './auth/bootstrap.js';
import { buildApi } from './api-setup.js';
import { connectBus, type BusSetup } from './bus-setup.js';
import { contextPlane } from './context-plane.js';
import { daemonInfoFile } from './daemon-info.js';
import { economyServices } from './economy.js';
import type { ApiContext } from './http/context.js';
import { setupLlm } from './llm/setup.js';
import { restoreCounters } from './llm/usage-store.js';
import { routeUsage } from './llm/usage-routing.js';
import { createLogger, logFn, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { TaskRates } from './task-metrics.js';
import { agentRpcOps } from './rpc-ops.js';
import { setupRuntimes, startEgressProxy, type RuntimeSetup } from './runtime-setup.js';
import { startScheduler } from './scheduler.js';
import { setupServices } from './services-setup.js';
import { setupPeople } from './people-setup.js';
import { shutdownSequence } from './shutdown.js';
import { daemonChecks } from './status.js';
import { setupStore } from './store-setup.js';
import { traceGateway } from './telemetry/traced-gateway.js';
import { VERSION } from './version.js';
import { setupWorld } from './world/setup.js';
import { BusFleet } from './nodes/fleet.js';
import { setupNodes } from './nodes/setup.js';
import { nodeMetrics } from './nodes/node-metrics.js';

export { natsClusterConfig, natsServerConfig } from './bus-setup.js';
export { daemonInfoFile } from './daemon-info.js';

export interface DaemonHandle {
  apiUrl: string;
  /** Resolves when the daemon has stopped (after a signal or an API shutdown). */
  done: Promise<void>;
  stop(opts?: { stopFlock?: boolean }): Promise<void>;
  /** Re-read the config file's llm section and apply it (SIGHUP; `aiflock llm reload` asks over the API). */
  reloadLlm(): Promise<LlmReloaded>;
}

export interface DaemonOptions {
  logger?: Logger;
  clock?: Clock;
  /** Where egress decisions go besides the log and metrics (the audit log, when it lands). */
  egressLog?: EgressLog;
  /** Where the kill switch revokes instance credentials (no-op until they exist). */
  revoker?: CredentialRevoker;
  /** Shows the first admin token to whoever started the daemon; it never goes to the log. */
  announceAdminToken?: AnnounceToken;
  /** The config file's llm section as it is now (main.ts reads the file); absent, a reload is refused. */
  rereadLlmConfig?: () => Promise<Config['llm']>;
}

/**
 * The composition root: picks adapters from configuration, wires them to the core services
 * and serves the API. Each step is a setup module taking what earlier steps built. The order
 * matters: the sandbox network must exist before the spawned nats-server can listen on its
 * gateway.
 */
export async function startDaemon(config: Config, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const startedAt = Date.now();
  const logger = opts.logger ?? createLogger(config.log.level);
  const log = logFn(logger);
  const clock = opts.clock ?? systemClock;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // Loaded only when an endpoint is set: without it the OpenTelemetry API stays a no-op.
  const tracing = config.otel.endpoint
    ? (await import('./telemetry/otel-sdk.js')).startTracing({ endpoint: config.otel.endpoint, serviceName: config.otel.serviceName, version: VERSION })
    : null;
  if (tracing) log('info', `tracing: OTLP/HTTP to ${config.otel.endpoint}`);

  // The store, the audit log, people's and agents' credentials, the vector index.
  const state = await setupStore(config, { clock, logger, log, announceAdminToken: opts.announceAdminToken });
  const { store, audit, secrets } = state;
  // The runtimes first: the spawned nats-server listens on their gateway.
  const runtimes = await setupRuntimes(config, { store, logger });
  // A start that fails from here on takes down what it made, unless a running flock is being adopted.
  const made: { bus?: BusSetup } = {};
  try {
    const bus = await connectBus(config, runtimes, { log });
    made.bus = bus;

    const metrics = createMetrics(store, bus.bus, () => audit);
    // Task throughput and latency: Prometheus histograms, and the last minute for `aiflock stats`.
    const taskRates = new TaskRates(() => clock.now().getTime());
    state.whenTaskFinished((t) => {
      metrics.tasks.finished(t);
      taskRates.finished(t);
    });
    state.whenGroupCommitted(metrics.tasks.groupCommit);
    // The economy before the gateway: agents' LLM entitlements are their compute tiers.
    const economy = economyServices(config.economy, store, audit, clock);
    const llm = await setupLlm(config.llm, { clock, log, metrics: metrics.llm, tiers: economy.compute });
    log('info', `LLM gateway: ${llm.detail}`);
    if (llm.gateway) log('info', `LLM entitlement counters: ${await restoreCounters(llm.gateway, store, clock)} calls of the last hour replayed`);
    // Pins checked and models warmed in the background: a slow model server does not hold up the start.
    void llm.models.startUp();
    const reloadLlm = async (): Promise<LlmReloaded> => {
      try {
        if (!opts.rereadLlmConfig) throw new FlockError('not_ready', 'this daemon was started without a config file to re-read');
        return await llm.reload(await opts.rereadLlmConfig());
      } catch (err) {
        log('warn', `LLM reload refused, the gateway keeps what it had: ${(err as Error).message}`);
        throw err;
      }
    };
    if (tracing && llm.gateway) traceGateway(llm.gateway);
    // The memory and context plane embeds (and agents reflect) through the gateway.
    const plane = contextPlane({ config: config.context, llm: config.llm, store: store.context, tasks: store.tasks, index: state.vectorIndex, gateway: llm.gateway, clock, log });
    state.recordRunsWith(plane.recordRun);
    const usage = routeUsage(llm.usage, { store, compute: economy.compute, logger, log });

    const egressProxy = await startEgressProxy(config, runtimes, { store, secrets, metrics, logger, egressLog: opts.egressLog });
    // Joined nodes get their desired state over the bus; the node service is attached once it exists.
    const fleet = new BusFleet(bus.bus);
    const services = await setupServices(config, { store, bus, runtimes, secrets, egressProxy, metrics, ledger: economy.ledger }, { clock, log, revoker: opts.revoker ?? bus.revoker, fleet });
    const rpc = agentRpcOps({ store, log, llm, economy, plane });
    // The village: resumed from the store, ticking from start to stop whether or not anyone watches.
    const world = await setupWorld(config.world, { store, compute: economy.compute, names: economy.names, tiers: config.economy.tiers, rpc, metrics: metrics.world, log });
    // Chat, agents' questions to people and board posts to agents (mounts `human.*` on the RPC table).
    const people = setupPeople({ store, clock, tasks: services.tasks, board: economy.board, rpc, log, whenTaskFinished: state.whenTaskFinished });
    // Agents handing work to each other (`tasks.delegate|wait`); a parent that ends cancels its children.
    const delegation = new Delegation({ store, tasks: services.tasks, clock, log });
    mountDelegationOps(rpc, delegation);
    mountClaimOps(rpc, services.claims);
    mountPullOps(rpc, { store, bus: bus.bus });
    state.whenTaskFinished(delegation.taskFinished);
    bus.bus.onRpc(services.metered.rpc(rpc.handle));
    // Before the scheduler starts the bus: node heartbeats are one of its subscriptions.
    const nodes = await setupNodes(config, { store, clock, bus, runtimes, fleet, poke: services.poke, log });
    nodeMetrics(metrics.registry, nodes);
    const scheduler = await startScheduler(config, { bus: bus.bus, store, audit, clock, compute: economy.compute, sweeper: services.sweeper, logSweeper: services.logSweeper, poke: services.poke, log });
    services.poke();
    world.start();

    // Exec and stats for instances on joined nodes go to their node agents over the bus.
    const remoteSandboxes = { localNode: config.node, nodes: new RemoteSandboxes(bus.nodeWire) };
    const ctx: ApiContext = {
      deployments: services.deployments,
      tasks: services.tasks,
      auth: state.auth,
      secrets,
      killSwitch: services.killSwitch,
      restarts: services.restarts,
      instanceStats: instanceStatsOf(store, runtimes.operator.router, remoteSandboxes),
      sandboxes: sandboxExecOf(runtimes.operator.router, remoteSandboxes),
      store,
      audit,
      backup: state.sqlStore.backupTo,
      wsHeartbeatMs: config.api.wsHeartbeatMs,
      llm: {
        gateway: llm.gateway,
        get detail() {
          return llm.detail;
        },
        models: llm.models,
        reload: reloadLlm,
      },
      economy,
      context: plane.context,
      memory: plane.memory,
      world: world.api,
      people,
      nodes: { service: nodes, busUrl: config.nodes.busUrl ?? bus.busUrl, heartbeatMs: config.nodes.heartbeatMs, flock: config.flock },
      ...daemonChecks({ startedAt, dataDir: config.dataDir, apiUrl: () => apiUrl, store, bus, runtimes, plane, llm, throughput: () => taskRates.snapshot(), nodes }),
      busAdminCredentials: bus.adminCredentials,
      broadcast: (m) => bus.bus.broadcast?.(m) ?? Promise.reject(new Error('this bus cannot broadcast')),
      logLevel: {
        get: () => logger.level,
        set: (level) => {
          logger.level = level;
        },
      },
      shutdown: ({ stopFlock }) => void stop({ stopFlock }),
    };
    const api = buildApi(config, ctx, { logger, metrics });
    const { stop, done } = shutdownSequence(
      { scheduler, reconciler: services.reconciler, warm: services.warm, unwatch: services.unwatch, app: api.app, world, egressProxy, bus, llm, usage, plane, runtimes, store, tracing },
      { dataDir: config.dataDir, logger, log },
    );
    const apiUrl = await api.listen();
    await writeFile(daemonInfoFile(config.dataDir), JSON.stringify({ pid: process.pid, apiUrl, startedAt: new Date(startedAt).toISOString(), version: VERSION }));
    logger.info({ apiUrl, bus: bus.busUrl, isolation: runtimes.runtime.isolation() }, 'aiflock daemon ready');
    return { apiUrl, done, stop, reloadLlm };
  } catch (err) {
    await undoFailedStart(runtimes, made.bus, log);
    throw err;
  }
}

/**
 * A start that failed part way (its API port taken, the bus refusing its streams, ...): when no
 * sandbox of the flock exists it was a first start, and the network, firewall chains and
 * nats-server it made would outlive it for nothing, so they go. Otherwise a running flock was
 * being adopted, and all of it stays for the next start.
 */
async function undoFailedStart(runtimes: RuntimeSetup, bus: BusSetup | undefined, log: ReturnType<typeof logFn>): Promise<void> {
  const running = await runtimes.operator.router.list().catch(() => null);
  if (running === null || running.length > 0) {
    log('warn', `the start failed; the ${running?.length ?? 'unknown number of'} running sandboxes, their network and the bus stay for the next start`);
    return;
  }
  await bus?.bus.close().catch(() => undefined);
  await bus?.supervisor?.stop().catch((err: unknown) => log('warn', `stopping nats-server after the failed start: ${String(err)}`));
  await runtimes.operator.router.disposeOperator().catch((err: unknown) => log('warn', `operator sandbox cleanup after the failed start: ${String(err)}`));
  await runtimes.runtime.dispose().catch((err: unknown) => log('warn', `network cleanup after the failed start: ${String(err)}`));
  log('warn', 'the start failed: removed the network, firewall chains and nats-server it had made');
}
