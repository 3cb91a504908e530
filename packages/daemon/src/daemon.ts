import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import {
  AuditLog,
  ContextService,
  DeploymentService,
  HashingEmbedder,
  MemoryService,
  Presence,
  Reconciler,
  TaskIngest,
  TaskService,
  TaskSweeper,
  systemClock,
  noBusCredentials,
  type Bus,
  type BusCredentials,
  type Clock,
} from '@aiflock/core';
import type { SystemStatus } from '@aiflock/protocol';
import type { Config } from './config.js';
import { DockerRuntime } from './adapters/runtime-docker/docker-runtime.js';
import { NatsBus } from './adapters/nats/nats-bus.js';
import { NatsServerSupervisor } from './adapters/nats/server-supervisor.js';
import { openBusAuth } from './adapters/nats/bus-auth.js';
import { HmacFileAnchor } from './adapters/audit-anchor/hmac-file-anchor.js';
import { openStore } from './adapters/store-sql/open.js';
import { openVectorIndex } from './adapters/vector-index/open.js';
import { buildApp } from './http/app.js';
import type { ApiContext } from './http/context.js';
import { createLogger, logFn, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
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

/** Where the CLI finds a running daemon. */
export const daemonInfoFile = (dataDir: string) => join(dataDir, 'daemon.json');

/**
 * The composition root: picks adapters from configuration, wires them to the core services
 * and serves the API. The order matters: the sandbox network must exist before the spawned
 * nats-server can listen on its gateway.
 */
export async function startDaemon(config: Config, opts: { logger?: Logger; clock?: Clock } = {}): Promise<DaemonHandle> {
  const startedAt = Date.now();
  const logger = opts.logger ?? createLogger(config.log.level);
  const log = logFn(logger);
  const clock = opts.clock ?? systemClock;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  const store = await openStore(config, (msg) => log('warn', msg));
  // The tamper-evident audit log (security invariant 5). Components that act on behalf of
  // someone (ledger, egress proxy, quarantine) get this one instance from here.
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(config.dataDir), clock, log });

  // The memory and context plane. The gateway's `embed` alias will be another Embedder here.
  const embedder = new HashingEmbedder(config.context.dimension);
  const vectorIndex = await openVectorIndex(config.context.vectorIndex, store, (msg) => log('info', msg));
  const context = new ContextService({ store: store.context, tasks: store.tasks, embedder, index: vectorIndex, clock, chunkTokens: config.context.chunkTokens });
  // Reflection and summarisation use their in-tree defaults until the gateway's LLM is wired in.
  const memory = new MemoryService({ store: store.context, embedder, clock, maxPerAgent: config.context.memoryPerAgent });

  const external = config.nats.url ? externalBus(config.nats.url) : null;
  const runtime = new DockerRuntime({
    docker: new Dockerode({ socketPath: config.runtime.socket }),
    flock: config.flock,
    sharedDir: join(config.dataDir, 'shared'),
    // The one host port sandboxes may reach: the spawned server's, or an external one's.
    busPort: external?.port ?? config.nats.port,
    node: config.node,
    log: (level, msg, data) => logger[level](data ?? {}, msg),
  });
  await runtime.init();

  const natsDir = join(config.dataDir, 'nats');
  const auth = config.nats.auth === 'jwt' ? await openBusAuth(config, natsDir, log) : null;
  let supervisor: NatsServerSupervisor | null = null;
  let busUrl = config.nats.url;
  if (!busUrl) {
    supervisor = new NatsServerSupervisor({
      host: runtime.gatewayIp(),
      port: config.nats.port,
      monitorPort: config.nats.monitorPort,
      dir: natsDir,
      binary: config.nats.binary,
      ...(auth ? { authConfig: async () => auth.trust.serverConfig(join(natsDir, 'jwt'), await auth.credentials.accountJwt()) } : {}),
      log,
    });
    await supervisor.start();
    busUrl = supervisor.url;
  }
  const bus: Bus = await NatsBus.connect({ url: busUrl, log, ...(auth ? { authenticator: await auth.daemonAuthenticator() } : {}) });
  await bus.init();
  const credentials: BusCredentials = auth?.credentials ?? noBusCredentials;
  if (auth) await auth.credentials.start(busUrl);
  else log('warn', noBusCredentials.detail);

  const metrics = createMetrics(store);
  const presence = new Presence();
  const reconciler = new Reconciler({
    store,
    runtime,
    clock,
    presence,
    defaultImage: config.runtime.image,
    busUrl: () => (external && !external.onThisHost ? external.url : runtime.busUrlForSandboxes()),
    credentials,
    busConnectedSince: () => bus.connectedSince(),
    node: config.node,
    log,
  });
  const poke = () => void reconciler.poke().catch((err) => log('error', `reconcile failed: ${String(err)}`));
  const deployments = new DeploymentService({ store, bus, clock, defaultImage: config.runtime.image, poke });
  const tasks = new TaskService({ store, bus, clock, log });
  const ingest = new TaskIngest({ store, bus, clock, log, presence });
  const sweeper = new TaskSweeper({ store, bus, clock, log, tasks });

  bus.onResult(ingest.onResult);
  bus.onEvent(ingest.onEvent);
  bus.onHeartbeat(async (m) => {
    metrics.heartbeats.inc();
    await ingest.onHeartbeat(m);
  });
  for (const d of await store.deployments.list()) {
    await bus.ensureQueue(d.name, { ackWaitMs: 30_000, maxDeliver: d.manifest.maxAttempts });
  }
  await bus.start();

  const timers = [
    setInterval(poke, config.reconcileIntervalMs),
    setInterval(() => void sweeper.sweep().catch((err) => log('error', `sweep failed: ${String(err)}`)), 1_000),
  ];
  poke();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | null = null;

  const readiness = async () => ({
    store: await store.ping(),
    bus: await bus.ping(),
    runtime: await runtime.ping(),
    isolation: { ok: runtime.isolation().enforced, detail: runtime.isolation().detail },
    busAuth: { ok: credentials.enforced, detail: credentials.detail },
  });

  const ctx: ApiContext = {
    deployments,
    tasks,
    store,
    audit,
    context,
    memory,
    backup: store.backupTo,
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
        },
        agents: {
          deployed: agents.length,
          instancesRunning: instances.filter((i) => i.status === 'running').length,
          instancesDesired: agents.filter((a) => a.state === 'active').reduce((n, a) => n + a.replicas, 0),
        },
        tasks: await store.tasks.countByStatus(),
      };
    },
    shutdown: ({ stopFlock }) => void stop({ stopFlock }),
  };

  const app = buildApp(ctx, logger, metrics);
  await app.listen({ host: config.api.host, port: config.api.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.api.port;
  const apiUrl = `http://${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${port}`;
  await writeFile(daemonInfoFile(config.dataDir), JSON.stringify({ pid: process.pid, apiUrl, startedAt: new Date(startedAt).toISOString(), version: VERSION }));
  logger.info({ apiUrl, bus: busUrl, isolation: runtime.isolation() }, 'aiflock daemon ready');

  async function stop({ stopFlock = false }: { stopFlock?: boolean } = {}): Promise<void> {
    stopping ??= (async () => {
      logger.info({ stopFlock }, 'aiflock daemon stopping');
      for (const t of timers) clearInterval(t);
      await app.close().catch(() => undefined);
      if (stopFlock) {
        await credentials.retain(new Set()).catch((err: unknown) => log('warn', `revoking credentials: ${String(err)}`));
        for (const s of await runtime.list()) await runtime.remove(s.instanceId).catch(() => undefined);
        for (const i of await store.instances.list()) await store.instances.remove(i.id);
      }
      await auth?.credentials.stop();
      await bus.close().catch(() => undefined);
      if (supervisor) {
        if (stopFlock) await supervisor.stop();
        else supervisor.detach();
      }
      if (stopFlock) await runtime.dispose().catch((err: unknown) => log('warn', `network cleanup: ${String(err)}`));
      await store.close();
      await rm(daemonInfoFile(config.dataDir), { force: true });
      resolveDone();
    })();
    return stopping;
  }

  return { apiUrl, done, stop };
}
