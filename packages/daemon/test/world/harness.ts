import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, AuthService, DeploymentService, RpcRouter, systemClock } from '@aiflock/core';
import { startNatsServer, type TestNatsServer } from '../../../../testkit/nats-server.js';
import { apiFetch } from '../../../../testkit/api-fetch.js';
import { testHttpOptions } from '../../../../testkit/http-options.js';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import { NatsBus } from '../../src/adapters/nats/nats-bus.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { ConfigSchema } from '../../src/config.js';
import { economyServices } from '../../src/economy.js';
import { buildApp } from '../../src/http/app.js';
import type { ApiContext } from '../../src/http/context.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { setupWorld } from '../../src/world/setup.js';

/**
 * The village behind the daemon's real HTTP app: real SQLite store, real nats-server with the
 * daemon's NatsBus and RPC router (agents call the world ops over it), the real economy and
 * board, and the world as `setupWorld` builds it in the daemon. No sandboxes: agents are
 * deployed as records and their "instances" are store rows the RPC router resolves.
 */
export async function startWorldApi(world: Record<string, unknown> = {}, opts: { start?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aiflock-world-'));
  const nats: TestNatsServer = await startNatsServer();
  const store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  const bus = await NatsBus.connect({ url: nats.url, log: () => undefined });
  await bus.init();
  const config = ConfigSchema.parse({ dataDir: dir, world: { tickMs: 20, syncMs: 50, ...world } });
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock: systemClock });
  const economy = economyServices(config.economy, store, audit, systemClock);
  const rpc = new RpcRouter({ store, log: () => undefined });
  const metrics = createMetrics(store);
  const w = await setupWorld(config.world, { store, compute: economy.compute, names: economy.names, tiers: config.economy.tiers, rpc, metrics: metrics.world, log: () => undefined });
  bus.onRpc(rpc.handle);
  await bus.start();
  const auth = new AuthService({ store, clock: systemClock, sessionTtlMs: 3_600_000 });
  const deployments = new DeploymentService({ store, bus, clock: systemClock, defaultImage: 'aiflock/agent:test', poke: () => undefined });
  const ctx = { deployments, store, audit, auth, economy, world: w.api, backup: null, readiness: async () => ({}), shutdown: () => undefined } as unknown as ApiContext;
  const { app } = buildApp(ctx, createLogger('silent'), metrics, testHttpOptions());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const adminToken = (await auth.createToken({ name: 'admin', scopes: ['admin'] })).token;
  if (opts.start !== false) w.start();
  return {
    url,
    natsUrl: nats.url,
    store,
    economy,
    deployments,
    world: w,
    metrics,
    adminToken,
    token: async (scopes: string[]) => (await auth.createToken({ name: `t-${scopes.join('-')}`, scopes })).token,
    fetch: (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string | null } = {}) => apiFetch(url, path, init, init.token === undefined ? adminToken : init.token),
    /** Deploys a villager (a manifest with a village section) and registers a running instance row for its bus calls. */
    async villager(name: string, village = 'policy: rules') {
      await deployments.deploy(manifest(name, village));
      await store.instances.upsert({ id: `${name}-1`, agent: name, status: 'running', handle: null, node: 'n', startedAt: null, lastHeartbeatAt: null, exitCode: null, oomKilled: false });
      await until(() => w.api.host.engine.has(name));
    },
    async close() {
      await app.close();
      await w.stop();
      await bus.close();
      await store.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const manifest = (name: string, village: string) => `apiVersion: aiflock/v1
kind: Agent
name: ${name}
version: 1.0.0
handlers: [echo]
village:
  ${village.split('\n').join('\n  ')}
`;

/** Waits for a condition the world reaches on its own ticks (no timed assertion: it just polls). */
export async function until(cond: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}
