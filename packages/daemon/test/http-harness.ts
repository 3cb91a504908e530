import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, AuthService, Delegation, DeploymentService, Presence, RpcRouter, TaskClaims, mountClaimOps, mountDelegationOps, mountPullOps, TaskIngest, TaskService, TaskSweeper, deadlinePausedFor, systemClock, type Store, type TaskRecord } from '@aiflock/core';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { agentRetirement } from '../src/agent-retirement.js';
import { HmacFileAnchor } from '../src/adapters/audit-anchor/hmac-file-anchor.js';
import { NatsBus } from '../src/adapters/nats/nats-bus.js';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { ConfigSchema } from '../src/config.js';
import { economyServices } from '../src/economy.js';
import { buildApp, type HttpOptions } from '../src/http/app.js';
import type { RegisteredRoute } from '../src/http/auth.js';
import type { ApiContext } from '../src/http/context.js';
import { recordingJobEvents } from '../src/jobs/recording-store.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { TaskRates } from '../src/task-metrics.js';
import { setupPeople, type PeopleSetup } from '../src/people-setup.js';
import { apiFetch } from '../../../testkit/api-fetch.js';

export interface ApiHarness {
  url: string;
  /** The harness's data directory (its shared dir is `<dir>/shared`). */
  dir: string;
  natsUrl: string;
  routes: readonly RegisteredRoute[];
  store: Store;
  auth: AuthService;
  adminToken: string;
  economy: ApiContext['economy'];
  /** Chat, questions and board routing, wired as the daemon wires them (agents' `human.*` ops on the bus). */
  people: PeopleSetup;
  /** The deadline sweeper, run when a test says. */
  sweeper: TaskSweeper;
  /** A fresh token holding exactly `scopes`. */
  token(scopes: string[], name?: string): Promise<string>;
  fetch(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string | null }): Promise<{ status: number; headers: Headers; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

/**
 * The daemon's HTTP API on a real port, over a real SQLite store and a real nats-server
 * (no sandbox runtime: these tests are about the API, so agents are deployed as records only).
 */
export interface HarnessOptions {
  /** Capture the daemon's log lines at this level. */
  logTo?: { level: string; write(line: string): void };
  /** Listen here instead of 127.0.0.1. */
  host?: string;
  /** The store (default: a SQLite file in the harness's directory), e.g. PostgreSQL for the attacks where the store matters. */
  store?: (dir: string) => Promise<SqlStore>;
  /** What `agent remove` does with the agent's balance, files (under `<dir>/shared`) and logs, as the daemon does; unset, nothing. */
  onRemove?: 'archive' | 'delete';
}

export async function startApi(overrides: Partial<HttpOptions> = {}, { logTo, host = '127.0.0.1', store: openStore, onRemove }: HarnessOptions = {}): Promise<ApiHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'aiflock-api-'));
  const nats: TestNatsServer = await startNatsServer();
  // Tasks finished in the last minute, as the daemon counts them for `aiflock stats`.
  const rates = new TaskRates();
  const finished: ((t: TaskRecord) => void)[] = [(t) => rates.finished(t)];
  const store = recordingJobEvents(openStore ? await openStore(dir) : await SqlStore.open(sqliteBackend(join(dir, 'flock.db'))), () => new Date().toISOString(), (t) => {
    for (const fn of finished) fn(t);
  });
  const log = () => undefined;
  const bus = await NatsBus.connect({ url: nats.url, log });
  await bus.init();
  const clock = systemClock;
  // Results, events and heartbeats from agents (run in-process by tests that need them) land as in the daemon.
  const presence = new Presence();
  const ingest = new TaskIngest({ store, bus, clock, log, presence });
  bus.onResult(ingest.onResult);
  bus.onEvent(ingest.onEvent);
  bus.onHeartbeat(ingest.onHeartbeat);
  const auth = new AuthService({ store, clock, sessionTtlMs: 3_600_000 });
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock });
  const economy = economyServices(ConfigSchema.parse({ dataDir: dir }).economy, store, audit, clock);
  const onRemoved = onRemove ? agentRetirement(onRemove, { store, ledger: economy.ledger, sharedDir: join(dir, 'shared'), clock, log }) : undefined;
  const deployments = new DeploymentService({ store, bus, clock, defaultImage: 'aiflock/agent:latest', poke: () => undefined, artefacts: bus.artefacts, ...(onRemoved ? { onRemoved } : {}) });
  const tasks = new TaskService({ store, bus, clock, log });
  const sweeper = new TaskSweeper({ store, bus, clock, log, tasks, deadlinePaused: deadlinePausedFor(store) });
  // Agents' bus requests (only `human.*` and `tasks.*` are mounted here) and the people services, as in the daemon.
  const rpc = new RpcRouter({ store, log });
  const people = setupPeople({ store, clock, tasks, board: economy.board, rpc, log, whenTaskFinished: (fn) => void finished.push(fn) });
  const delegation = new Delegation({ store, tasks, clock, log });
  mountDelegationOps(rpc, delegation);
  mountClaimOps(rpc, new TaskClaims({ store, clock, presence, caughtUp: () => bus.ingestCaughtUp(3_000) }));
  mountPullOps(rpc, { store, bus });
  finished.push(delegation.taskFinished);
  bus.onRpc(rpc.handle);
  await bus.start();
  const readiness = async () => ({ store: await store.ping(), bus: await bus.ping() });
  const logger = logTo ? createLogger(logTo.level, { write: (l: string) => logTo.write(l) } as unknown as NodeJS.WritableStream) : createLogger('silent');
  const { app, routes } = buildApp(
    {
      deployments,
      tasks,
      auth,
      store,
      audit,
      economy,
      backup: null,
      busAdminCredentials: null,
      wsHeartbeatMs: 200,
      people,
      readiness,
      status: async () => ({
        version: 'test',
        pid: process.pid,
        uptimeMs: 0,
        apiUrl: '',
        dataDir: dir,
        checks: await readiness(),
        agents: { deployed: 0, instancesRunning: 0, instancesDesired: 0 },
        tasks: await store.tasks.countByStatus(),
        throughput: rates.snapshot(),
      }),
      logLevel: { get: () => logger.level, set: (l) => (logger.level = l) },
      shutdown: () => undefined,
      // No provider: the gateway's routes answer llm_unavailable, as a daemon without one does.
      llm: { gateway: null, detail: 'no LLM provider is configured in this harness' },
      // Secrets, the kill switch and the context plane have harnesses of their own; here
      // their routes are absent, and a test that reaches one fails loudly.
    } satisfies Omit<ApiContext, 'secrets' | 'killSwitch' | 'restarts' | 'context' | 'memory'> as unknown as ApiContext,
    logger,
    createMetrics(store, bus),
    {
      corsOrigins: ['http://localhost:3000'],
      ownOrigins: () => [url],
      bodyLimitBytes: 256 * 1024,
      largeBodyLimitBytes: 4 * 1024 * 1024,
      rateLimit: { max: 100_000, windowMs: 60_000 },
      devBypassLoopback: false,
      strictStatuses: true,
      ...overrides,
    },
  );
  await app.listen({ host, port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const adminToken = (await auth.createToken({ name: 'test-admin', scopes: ['admin'] })).token;
  return {
    url,
    dir,
    natsUrl: nats.url,
    routes,
    store,
    auth,
    adminToken,
    economy,
    people,
    sweeper,
    token: async (scopes, name = 'test') => (await auth.createToken({ name, scopes })).token,
    async fetch(path, init = {}) {
      return apiFetch(url, path, init, init.token === undefined ? adminToken : init.token);
    },
    async close() {
      people.stop();
      await app.close();
      await bus.close();
      await store.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
