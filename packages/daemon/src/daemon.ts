import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import {
  AuditLog,
  AuthService,
  DeploymentService,
  KillSwitch,
  Presence,
  Reconciler,
  RpcRouter,
  boardRpcHandlers,
  economyRpcHandlers,
  ToolRunLimits,
  SecretService,
  TaskIngest,
  TaskService,
  TaskSweeper,
  noCredentialRevoker,
  parseEgressRules,
  systemClock,
  noBusCredentials,
  type Bus,
  type BusCredentials,
  type RpcOp,
  type Clock,
  type CredentialRevoker,
  type SandboxRuntime,
  type TaskRecord,
} from '@aiflock/core';
import type { SystemStatus } from '@aiflock/protocol';
import type { Config } from './config.js';
import { EgressProxy, type EgressClient, type EgressLog } from './adapters/egress-proxy/egress-proxy.js';
import { DockerRuntime } from './adapters/runtime-docker/docker-runtime.js';
import { ProcessRuntime } from './adapters/runtime-process/process-runtime.js';
import { NatsBus } from './adapters/nats/nats-bus.js';
import { NatsServerSupervisor } from './adapters/nats/server-supervisor.js';
import { openBusAuth } from './adapters/nats/bus-auth.js';
import { HmacFileAnchor } from './adapters/audit-anchor/hmac-file-anchor.js';
import { openStore } from './adapters/store-sql/open.js';
import { bootstrapAdminToken, type AnnounceToken } from './auth/bootstrap.js';
import { SecretBox } from './adapters/secrets/secret-box.js';
import { openVectorIndex } from './adapters/vector-index/open.js';
import { buildApp } from './http/app.js';
import { toolRunAuditor } from './jobs/tool-audit.js';
import { recordingJobEvents } from './jobs/recording-store.js';
import { registerLlmOps } from './llm/rpc-ops.js';
import { persistUsage, restoreCounters } from './llm/usage-store.js';
import { setupLlm } from './llm/setup.js';
import { chargeUsageToLedger } from './llm/economy-bridge.js';
import { economyServices } from './economy.js';
import { setupWorld } from './world/setup.js';
import { contextPlane, mountContextOps } from './context-plane.js';
import type { ApiContext } from './http/context.js';
import { createLogger, logFn, type Logger } from './logger.js';
import { createMetrics, meteredBusHandlers } from './metrics.js';
import { TaskTraces } from './telemetry/tracing.js';
import { traceGateway } from './telemetry/traced-gateway.js';
import { operatorSandboxes } from './operator-sandboxes.js';
import { VERSION } from './version.js';

export interface DaemonHandle {
  apiUrl: string;
  /** Resolves when the daemon has stopped (after a signal or an API shutdown). */
  done: Promise<void>;
  stop(opts?: { stopFlock?: boolean }): Promise<void>;
}

/**
 * An external NATS server. One on this host is reached by sandboxes through their bridge
 * gateway (it must listen there, e.g. on 0.0.0.0); a remote one needs a network sandboxes
 * can route to, which the multi-host work provides.
 */
function externalBus(url: string): { url: string; port: number; onThisHost: boolean } {
  const parsed = new URL(url.replace(/^nats:/, 'http:'));
  const onThisHost = ['127.0.0.1', 'localhost', '0.0.0.0', '[::1]'].includes(parsed.hostname);
  return { url, port: Number(parsed.port || 4222), onThisHost };
}

/** The config lines an external NATS server needs to trust this flock (see docs/security.md). */
export async function natsServerConfig(config: Config, resolverDir: string): Promise<string> {
  const auth = await openBusAuth(config, join(config.dataDir, 'nats'), () => undefined);
  return auth.trust.serverConfig(resolverDir, await auth.credentials.accountJwt());
}

/** Where the CLI finds a running daemon. */
export const daemonInfoFile = (dataDir: string) => join(dataDir, 'daemon.json');

/**
 * The composition root: picks adapters from configuration, wires them to the core services
 * and serves the API. The order matters: the sandbox network must exist before the spawned
 * nats-server can listen on its gateway.
 */
export interface DaemonOptions {
  logger?: Logger;
  clock?: Clock;
  /** Where egress decisions go besides the log and metrics (the audit log, when it lands). */
  egressLog?: EgressLog;
  /** Where the kill switch revokes instance credentials (no-op until they exist). */
  revoker?: CredentialRevoker;
  /** Shows the first admin token to whoever started the daemon; it never goes to the log. */
  announceAdminToken?: AnnounceToken;
}

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

  // Every job's status changes and log lines also feed its resumable stream (WS /v1/stream/{id}).
  const sqlStore = await openStore(config, (msg) => log('warn', msg));
  // Finished tasks may also be recorded in the context plane's `runs` collection (set below).
  let recordRun: ((task: TaskRecord) => void) | null = null;
  let auditToolRun: ((task: TaskRecord) => void) | null = null;
  const store = recordingJobEvents(sqlStore, () => clock.now().toISOString(), (t) => {
    recordRun?.(t);
    auditToolRun?.(t);
  });
  // The tamper-evident audit log (security invariant 5). Components that act on behalf of
  // someone (ledger, egress proxy, quarantine) get this one instance from here.
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(config.dataDir), clock, log });
  auditToolRun = toolRunAuditor(audit, log);
  const auth = new AuthService({ store, clock, sessionTtlMs: config.auth.sessionTtlMs });
  await bootstrapAdminToken(auth, store, config.dataDir, logger, opts.announceAdminToken);
  const secrets = new SecretService({ store, clock, cipher: await SecretBox.fromKeyFile(join(config.dataDir, 'secrets.key')) });

  const vectorIndex = await openVectorIndex(config.context.vectorIndex, sqlStore, (msg) => log('info', msg), { ann: config.context.pgvectorAnn, efSearch: config.context.pgvectorEfSearch });

  const external = config.nats.url ? externalBus(config.nats.url) : null;
  const runtimeLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: unknown) => logger[level](data ?? {}, msg);
  const secretsDir = config.runtime.secretsDir ?? join('/dev/shm', `aiflock-${config.flock}-secrets`);
  const runtime =
    config.runtime.kind === 'process'
      ? new ProcessRuntime({
          flock: config.flock,
          node: config.node,
          rootDir: config.runtime.processDir ?? `/var/lib/aiflock-${config.flock}`,
          bundle: join(import.meta.dirname, '..', '..', 'agent', 'dist', 'bundle', 'agent.mjs'),
          busHost: '127.0.0.1',
          busPort: external?.port ?? config.nats.port,
          secretsDir,
          log: runtimeLog,
        })
      : new DockerRuntime({
          docker: new Dockerode({ socketPath: config.runtime.socket }),
          flock: config.flock,
          sharedDir: join(config.dataDir, 'shared'),
          // The one host port sandboxes may reach: the spawned server's, or an external one's.
          busPort: external?.port ?? config.nats.port,
          node: config.node,
          log: runtimeLog,
          secretsDir,
          proxyPort: config.egress.port,
        });
  await runtime.init();
  // Operator-profile sandboxes run on a second, user-namespace-remapped engine when one is
  // configured; the router sends each profile to its runtime and refuses what it cannot run.
  const operator = operatorSandboxes(config, {
    main: runtime,
    store,
    sharedDir: join(config.dataDir, 'shared'),
    busHost: external && !external.onThisHost ? new URL(external.url.replace(/^nats:/, 'http:')).hostname : runtime.gatewayIp(),
    busPort: external?.port ?? config.nats.port,
    secretsDir,
    log: runtimeLog,
  });
  await operator.router.initOperator();
  if (runtime instanceof ProcessRuntime) logger.warn({ isolation: runtime.isolation() }, 'the process runtime is weaker than containers');

  const natsDir = join(config.dataDir, 'nats');
  // The process runtime's sandboxes are launched as the sandbox user, who must be able to
  // reach the credentials directory to bind it; under its own root (0711) it can, under the
  // data dir (0700) it cannot.
  const credentialMounts = config.runtime.kind === 'process' ? join(config.runtime.processDir ?? `/var/lib/aiflock-${config.flock}`, 'credentials') : undefined;
  const busAuth =
    config.nats.auth === 'jwt' ? await openBusAuth(config, natsDir, log, credentialMounts, operator.router.hasOperatorEngine ? operator.credentialsOwner : undefined) : null;
  let supervisor: NatsServerSupervisor | null = null;
  let busUrl = config.nats.url;
  if (!busUrl) {
    supervisor = new NatsServerSupervisor({
      host: runtime.gatewayIp(),
      port: config.nats.port,
      monitorPort: config.nats.monitorPort,
      dir: natsDir,
      binary: config.nats.binary,
      ...(busAuth ? { authConfig: async () => busAuth.trust.serverConfig(join(natsDir, 'jwt'), await busAuth.credentials.accountJwt()) } : {}),
      log,
    });
    await supervisor.start();
    busUrl = supervisor.url;
  }
  const bus: Bus = await NatsBus.connect({ url: busUrl, log, traces: new TaskTraces(), ...(busAuth ? { authenticator: await busAuth.daemonAuthenticator() } : {}) });
  await bus.init();
  const credentials: BusCredentials = busAuth?.credentials ?? noBusCredentials;
  if (busAuth) await busAuth.credentials.start(busUrl);
  else log('warn', noBusCredentials.detail);

  const metrics = createMetrics(store, bus);
  // The economy before the gateway: agents' LLM entitlements are their compute tiers.
  const economy = economyServices(config.economy, store, audit, clock);
  const llm = await setupLlm(config.llm, { clock, log, metrics: metrics.llm, tiers: economy.compute });
  log('info', `LLM gateway: ${llm.detail}`);
  if (llm.gateway) log('info', `LLM entitlement counters: ${await restoreCounters(llm.gateway, store, clock)} calls of the last hour replayed`);
  if (tracing && llm.gateway) traceGateway(llm.gateway);
  // The memory and context plane embeds (and agents reflect) through the gateway.
  const contextPlaneOf = contextPlane({ config: config.context, llm: config.llm, store: store.context, tasks: store.tasks, index: vectorIndex, gateway: llm.gateway, clock, log });
  const { context, memory } = contextPlaneOf;
  recordRun = contextPlaneOf.recordRun;
  const usageRows = persistUsage(llm.usage, store, log);
  const usageCharges = chargeUsageToLedger(llm.usage, economy.compute, log);
  // Seed 3's log fields for model calls: one line per call, whoever made it (agent or HTTP).
  const unlogUsage = llm.usage.subscribe((e) =>
    logger.info(
      { provider: e.provider, model: e.model, providerModel: e.providerModel, tokens: e.tokensIn + e.tokensOut, tokensIn: e.tokensIn, tokensOut: e.tokensOut, latencyMs: e.latencyMs, outcome: e.outcome, actor: e.caller, agent: e.agent, correlationId: e.correlationId, costAiDollars: e.costAiDollars },
      'llm call',
    ),
  );
  const presence = new Presence();

  // The egress proxy listens on the bridge gateway only; the firewall opens its port there.
  // Process sandboxes have no network at all, so no proxy for them.
  const docker = runtime instanceof DockerRuntime ? runtime : null;
  const egressProxy = docker && new EgressProxy({
    host: runtime.gatewayIp(),
    port: config.egress.port,
    identify: async (address): Promise<EgressClient | undefined> => {
      const who = docker.instanceAt(address) ?? operator.identify(address);
      if (!who) return undefined;
      const d = await store.deployments.get(who.agent);
      if (!d || d.state !== 'active' || d.manifest.network.egress.length === 0) return undefined;
      return {
        agent: who.agent,
        instanceId: who.instanceId,
        rules: parseEgressRules(d.manifest.network.egress),
        credentialsFor: (host) => secrets.credentialsFor(d.manifest, host),
      };
    },
    log: (e) => {
      metrics.egress.inc({ agent: e.agent ?? 'unknown', allowed: String(e.allowed) });
      logger[e.allowed ? 'info' : 'warn']({ egress: e }, `egress ${e.allowed ? 'allowed' : 'denied'}: ${e.method} ${e.host}:${e.port}`);
      opts.egressLog?.(e);
    },
  });
  await egressProxy?.listen();
  if (egressProxy) operator.setProxy(egressProxy);
  const reconciler = new Reconciler({
    store,
    runtime: operator.router,
    clock,
    presence,
    defaultImage: config.runtime.image,
    busUrl: () => (external && !external.onThisHost ? external.url : runtime.busUrlForSandboxes()),
    credentials,
    busConnectedSince: () => bus.connectedSince(),
    node: config.node,
    log,
    secretFiles: (m) => secrets.filesFor(m),
    egressProxyUrl: () => (egressProxy ? `http://${runtime.gatewayIp()}:${egressProxy.port}` : null),
    onOom: (e) => metrics.oomKills.inc({ agent: e.agent }),
    onRemove: (e) => metrics.instanceRemovals.inc({ agent: e.agent, reason: e.reason }),
  });
  const sandboxes: SandboxRuntime = operator.router;
  const unwatch = (sandboxes.watch?.bind(sandboxes) ?? (() => () => {}))((e) => void reconciler.recordOom(e).catch((err) => log('error', `recording an OOM kill failed: ${String(err)}`)));
  let refreshKnownAgents = async (): Promise<void> => undefined;
  const poke = () => {
    void refreshKnownAgents().catch(() => undefined);
    void reconciler.poke().catch((err) => log('error', `reconcile failed: ${String(err)}`));
  };
  const deployments = new DeploymentService({
    store,
    bus,
    clock,
    defaultImage: config.runtime.image,
    poke,
    ackWaitMs: config.taskAckWaitMs,
    profileRefusal: (p) => operator.router.refusal(p),
  });
  const tasks = new TaskService({ store, bus, clock, log });
  const ingest = new TaskIngest({ store, bus, clock, log, presence });
  const sweeper = new TaskSweeper({ store, bus, clock, log, tasks });
  const killSwitch = new KillSwitch({ store, runtime: sandboxes, deployments, revoker: opts.revoker ?? (busAuth ? { revoke: (id) => busAuth.credentials.suspend(id), restore: (id) => busAuth.credentials.restore(id) } : noCredentialRevoker), clock, poke, log });

  // Metric labels name only deployed agents: an instance id is `<agent>-<suffix>`, and
  // whatever else a client puts on the bus must not grow the label set.
  const knownAgents = new Set<string>();
  refreshKnownAgents = async () => {
    const names = (await store.deployments.list()).map((d) => d.name);
    knownAgents.clear();
    for (const n of names) knownAgents.add(n);
  };
  await refreshKnownAgents();
  const metered = meteredBusHandlers(metrics, (instanceId) => {
    const agent = instanceId.replace(/-[^-]+$/, '');
    return knownAgents.has(agent) ? agent : 'unknown';
  });
  bus.onResult(metered.result(ingest.onResult));
  bus.onDeadLetter(metered.deadLetter(tasks.deadLetter));
  bus.onEvent(metered.event(ingest.onEvent));
  bus.onHeartbeat(metered.heartbeat(ingest.onHeartbeat));
  const rpc = new RpcRouter({ store, log });
  registerLlmOps(rpc, llm, store, randomUUID);
  // Board and economy for agents: the caller is always the instance the subject names.
  const ops: Record<string, RpcOp> = { ...boardRpcHandlers(economy.board), ...economyRpcHandlers(economy.compute) } as Record<string, RpcOp>;
  for (const [name, op] of Object.entries(ops)) {
    const [service, operation] = name.split('.') as [string, string];
    rpc.unary(service, operation, op.input, (caller, input) => op.handle(caller, input));
  }
  // Memory and context for agents: each handler validates its own input and scopes to the caller.
  mountContextOps(rpc, { memory, context });
  // The village: resumed from the store, ticking from start to stop whether or not anyone watches.
  const world = await setupWorld(config.world, { store, compute: economy.compute, board: economy.board, tiers: config.economy.tiers, rpc, metrics: metrics.world, log });
  bus.onRpc(metered.rpc(rpc.handle));
  for (const d of await store.deployments.list()) {
    await bus.ensureQueue(d.name, { ackWaitMs: config.taskAckWaitMs, maxDeliver: d.manifest.maxAttempts });
  }
  await bus.start();
  // The scheduler's side of the compute tiers: each agent's tasks in flight are capped at its tier's tool runs.
  const toolRunScope = config.economy.toolRunLimits;
  const toolRuns =
    bus.limitQueue && toolRunScope !== 'off'
      ? new ToolRunLimits({
          agents: async () => (await store.deployments.list()).map((d) => ({ name: d.name, limited: toolRunScope === 'all' || d.manifest.village !== undefined })),
          entitlements: economy.compute,
          limitQueue: bus.limitQueue.bind(bus),
          log,
        })
      : null;
  const syncToolRuns = () => void toolRuns?.sync().catch((err) => log('error', `tool-run limits: ${String(err)}`));
  syncToolRuns();

  const timers = [
    setInterval(poke, config.reconcileIntervalMs),
    setInterval(() => void sweeper.sweep().catch((err) => log('error', `sweep failed: ${String(err)}`)), 1_000),
    setInterval(syncToolRuns, 1_000),
  ];
  poke();
  world.start();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;

  const readiness = async () => ({
    store: await store.ping(),
    bus: await bus.ping(),
    runtime: await runtime.ping(),
    isolation: { ok: runtime.isolation().enforced, detail: runtime.isolation().detail },
    // With nats.auth: none (a deliberate development setting) the daemon still serves; the
    // status below says plainly that the bus is open.
    ...(credentials.enforced ? { busAuth: { ok: true, detail: credentials.detail } } : {}),
    // Only when configured: a flock without operator sandboxes is not "not ready" for lacking them.
    ...(operator.router.hasOperatorEngine ? { operatorSandboxes: await operator.router.operatorHealth() } : {}),
  });

  const ctx: ApiContext = {
    deployments,
    tasks,
    auth,
    secrets,
    killSwitch,
    store,
    audit,
    backup: sqlStore.backupTo,
    wsHeartbeatMs: config.api.wsHeartbeatMs,
    llm: { gateway: llm.gateway, detail: llm.detail },
    economy,
    context,
    memory,
    world: world.api,
    readiness,
    status: async (): Promise<SystemStatus> => {
      const agents = await store.deployments.list();
      const instances = await store.instances.list();
      return {
        version: VERSION,
        pid: process.pid,
        uptimeMs: Date.now() - startedAt,
        apiUrl,
        dataDir: config.dataDir,
        checks: {
          ...(await readiness()),
          nats: { ok: true, detail: supervisor ? `spawned by the daemon at ${busUrl}` : `external at ${busUrl}` },
          busAuth: { ok: credentials.enforced, detail: credentials.detail },
          context: await contextPlaneOf.check(),
        },
        agents: {
          deployed: agents.length,
          instancesRunning: instances.filter((i) => i.status === 'running').length,
          instancesDesired: agents.filter((a) => a.state === 'active').reduce((n, a) => n + a.replicas, 0),
        },
        tasks: await store.tasks.countByStatus(),
        llm: { available: llm.gateway !== null, detail: llm.detail, models: llm.gateway?.registry.names() ?? [], breakers: llm.gateway?.breakerStates() ?? {} },
      };
    },
    busAdminCredentials: busAuth ? (name, ttl) => busAuth.credentials.adminCreds(name, ttl) : null,
    logLevel: {
      get: () => logger.level,
      set: (level) => {
        logger.level = level;
      },
    },
    shutdown: ({ stopFlock }) => void stop({ stopFlock }),
  };

  if (config.auth.devBypassLoopback) logger.warn('auth.devBypassLoopback is on: requests from loopback without credentials act as admin');
  const { app } = buildApp(ctx, logger, metrics, {
    corsOrigins: config.api.corsOrigins,
    ownOrigins: () => ownOrigins,
    bodyLimitBytes: config.api.bodyLimitBytes,
    largeBodyLimitBytes: config.api.largeBodyLimitBytes,
    rateLimit: config.api.rateLimit,
    devBypassLoopback: config.auth.devBypassLoopback,
    ...(config.api.uiDir ? { uiDir: config.api.uiDir } : {}),
  });
  let ownOrigins: string[] = [];
  await app.listen({ host: config.api.host, port: config.api.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.api.port;
  const apiUrl = `http://${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${port}`;
  ownOrigins = [apiUrl, `http://localhost:${port}`, `http://127.0.0.1:${port}`];
  await writeFile(daemonInfoFile(config.dataDir), JSON.stringify({ pid: process.pid, apiUrl, startedAt: new Date(startedAt).toISOString(), version: VERSION }));
  logger.info({ apiUrl, bus: busUrl, isolation: runtime.isolation() }, 'aiflock daemon ready');

  async function stop({ stopFlock = false }: { stopFlock?: boolean } = {}): Promise<void> {
    stopping ??= (async () => {
      logger.info({ stopFlock }, 'aiflock daemon stopping');
      for (const t of timers) clearInterval(t);
      unwatch();
      await app.close().catch(() => undefined);
      await world.stop().catch((err: unknown) => log('warn', `world stop: ${String(err)}`));
      await egressProxy?.close().catch(() => undefined);
      if (stopFlock) {
        await credentials.retain(new Set()).catch((err: unknown) => log('warn', `revoking credentials: ${String(err)}`));
        for (const s of await sandboxes.list()) await sandboxes.remove(s.instanceId).catch(() => undefined);
        for (const i of await store.instances.list()) await store.instances.remove(i.id);
      }
      await busAuth?.credentials.stop();
      await bus.close().catch(() => undefined);
      await llm.close();
      unlogUsage();
      usageRows.stop();
      await usageRows.flush();
      usageCharges.stop();
      await usageCharges.flush();
      if (supervisor) {
        if (stopFlock) await supervisor.stop();
        else supervisor.detach();
      }
      if (stopFlock) await operator.router.disposeOperator().catch((err: unknown) => log('warn', `operator sandbox cleanup: ${String(err)}`));
      if (stopFlock) await runtime.dispose().catch((err: unknown) => log('warn', `network cleanup: ${String(err)}`));
      await store.close();
      await tracing?.shutdown().catch((err: unknown) => log('warn', `exporting the last spans: ${String(err)}`));
      await rm(daemonInfoFile(config.dataDir), { force: true });
      resolveDone();
    })();
    return stopping;
  }

  return { apiUrl, done, stop };
}
