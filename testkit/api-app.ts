import { AuditLog, AuthService, DeploymentService, TaskService, systemClock } from '@aiflock/core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HmacFileAnchor } from '../packages/daemon/src/adapters/audit-anchor/hmac-file-anchor.js';
import { buildApp, type HttpOptions } from '../packages/daemon/src/http/app.js';
import type { ApiContext } from '../packages/daemon/src/http/context.js';
import { createLogger } from '../packages/daemon/src/logger.js';
import { createMetrics } from '../packages/daemon/src/metrics.js';
import { testHttpOptions } from './http-options.js';
import { startNatsServer, type TestNatsServer } from './nats-server.js';
import { NatsBus } from '../packages/daemon/src/adapters/nats/nats-bus.js';
import { sqliteBackend } from '../packages/daemon/src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';

/**
 * The daemon's HTTP app in a test that builds it itself (no daemon process, no sandboxes):
 * the services every such API context has, and the app on a loopback port.
 */
export interface ApiBackends {
  /** The data dir (the SQLite file, the audit anchor). */
  dir: string;
  nats: TestNatsServer;
  store: SqlStore;
  /** Connected, with the daemon's JetStream streams made; not consuming (no daemon loop runs). */
  bus: NatsBus;
  close(): Promise<void>;
}

/** What such an app runs on: a data dir of its own, a real nats-server and a SQLite store. */
export async function startApiBackends(name: string): Promise<ApiBackends> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), `aiflock-${name}-`));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const nats = await startNatsServer();
    closers.push(() => nats.stop());
    const store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    closers.push(() => store.close());
    const bus = await NatsBus.connect({ url: nats.url, log: () => undefined });
    closers.push(() => bus.close());
    await bus.init();
    return { dir, nats, store, bus, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export interface CoreApiServices {
  deployments: DeploymentService;
  tasks: TaskService;
  auth: AuthService;
  audit: AuditLog;
}

/** Wired as the daemon wires them; a deploy only records (nothing pokes a reconciler). */
export function coreApiServices(store: SqlStore, bus: NatsBus, dataDir: string): CoreApiServices {
  return {
    deployments: new DeploymentService({ store, bus, clock: systemClock, defaultImage: 'aiflock/agent:test', poke: () => undefined }),
    tasks: new TaskService({ store, bus, clock: systemClock, log: () => undefined }),
    auth: new AuthService({ store, clock: systemClock, sessionTtlMs: 3_600_000 }),
    audit: new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dataDir), clock: systemClock }),
  };
}

/**
 * The daemon's app over what the test serves (`ctx`: a test wires only the services its
 * routes use), logging nothing; system status and shutdown, which no such test calls, refuse.
 */
export function buildTestApp(store: SqlStore, ctx: object, http: Partial<HttpOptions> = {}): FastifyInstance {
  const full = { status: () => Promise.reject(new Error('not used')), shutdown: () => undefined, ...ctx } as unknown as ApiContext;
  return buildApp(full, createLogger('silent'), createMetrics(store), testHttpOptions(http)).app;
}

export interface RouteRecord {
  method: string | string[];
  url: string;
  /** The scope the route asks for, as it declares it in its config. */
  scope?: unknown;
}

/** Every route the app registers from now on, with its scope. */
export function recordRoutes(app: FastifyInstance): RouteRecord[] {
  const routes: RouteRecord[] = [];
  app.addHook('onRoute', (r) => void routes.push({ method: r.method, url: r.url, scope: (r.config as { scope?: unknown } | undefined)?.scope }));
  return routes;
}

/** Listens on a free loopback port; the app's base URL. */
export async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}
