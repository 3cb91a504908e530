import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RpcRouter } from '@aiflock/core';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { NatsBus, type NatsBusOptions } from '../src/adapters/nats/nats-bus.js';
import { NatsTrust } from '../src/adapters/nats/trust.js';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';

/**
 * The daemon's side of the bus as bus-level tests need it: a real nats-server, a SQLite store
 * that knows the test's instances, the daemon's NatsBus and an RPC router, started in the
 * daemon's order, and torn down in reverse.
 */
export type Instance = readonly [id: string, agent: string, status?: 'running' | 'stopped'];

export interface BusWiring {
  dir: string;
  store: SqlStore;
  bus: NatsBus;
  router: RpcRouter;
  /** Closed after the bus, so nothing it serves is closed under a live request. */
  closeAfterBus(close: () => Promise<unknown> | void): void;
}

export interface BusHarnessOptions {
  /** Names the temporary directory. */
  name: string;
  instances: readonly Instance[];
  log?: NatsBusOptions['log'];
  traces?: NatsBusOptions['traces'];
  /** The flock's real trust chain: the server requires credentials and the daemon has its own. */
  trust?: boolean;
  /** The store (default: a SQLite file in the harness's directory); closed with the harness. */
  store?: (dir: string) => Promise<SqlStore>;
  /** Create the JetStream streams, as the daemon does before it serves tasks. */
  jetstream?: boolean;
  /** What the test serves: runs after the bus connects, before it starts answering. */
  mount?: (w: BusWiring) => Promise<void> | void;
}

export interface BusHarness {
  dir: string;
  nats: TestNatsServer;
  store: SqlStore;
  bus: NatsBus;
  router: RpcRouter;
  /** Present when started with `trust`. */
  trust: NatsTrust | undefined;
  /** A client connection to the server (an instance's side), closed with the harness. */
  connect(opts?: ConnectionOptions): Promise<NatsConnection>;
  close(): Promise<void>;
}

export async function startBusHarness(o: BusHarnessOptions): Promise<BusHarness> {
  const closers: (() => Promise<unknown> | void)[] = [];
  const afterBus: (() => Promise<unknown> | void)[] = [];
  const conns: NatsConnection[] = [];
  const close = async (): Promise<void> => {
    for (const c of conns.splice(0)) await c.close();
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), `aiflock-${o.name}-`));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const trust = o.trust ? await NatsTrust.open(join(dir, 'trust.json')) : undefined;
    const nats = await startNatsServer(trust ? { config: await trust.serverConfig(join(dir, 'resolver')) } : {});
    closers.push(() => nats.stop());
    const store = o.store ? await o.store(dir) : await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    closers.push(() => store.close());
    for (const [id, agent, status = 'running'] of o.instances) {
      await store.instances.upsert({ id, agent, status, handle: null, node: 'n', startedAt: null, lastHeartbeatAt: null, exitCode: null, oomKilled: false });
    }
    // Whatever the test mounts closes after the bus and before the store, in reverse.
    closers.push(async () => {
      for (const c of afterBus.splice(0).reverse()) await c();
    });
    const log = o.log ?? (() => undefined);
    const daemonCreds = trust ? (await trust.issueUser('daemon', {}, null)).creds : undefined;
    const bus = await NatsBus.connect({
      url: nats.url,
      log,
      ...(o.traces ? { traces: o.traces } : {}),
      ...(daemonCreds ? { authenticator: credsAuthenticator(new TextEncoder().encode(daemonCreds)) } : {}),
    });
    closers.push(() => bus.close());
    if (o.jetstream) await bus.init();
    const router = new RpcRouter({ store, log });
    await o.mount?.({ dir, store, bus, router, closeAfterBus: (c) => void afterBus.push(c) });
    bus.onRpc(router.handle);
    await bus.start();
    return {
      dir,
      nats,
      store,
      bus,
      router,
      trust,
      async connect(opts = {}) {
        const nc = await connect({ servers: nats.url, ...opts });
        conns.push(nc);
        return nc;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
