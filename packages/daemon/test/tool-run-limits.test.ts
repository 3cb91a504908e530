import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, DeploymentService, ToolRunLimits, systemClock } from '@aiflock/core';
import { STREAMS, subjects, taskConsumerName } from '@aiflock/protocol';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { HmacFileAnchor } from '../src/adapters/audit-anchor/hmac-file-anchor.js';
import { NatsBus } from '../src/adapters/nats/nats-bus.js';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { ConfigSchema } from '../src/config.js';
import { economyServices } from '../src/economy.js';
import type { ApiContext } from '../src/http/context.js';

/**
 * The scheduler enforces the tier's concurrent tool runs: the agent's work queue on the real
 * nats-server delivers at most that many unacknowledged tasks, to all its instances together.
 * An "instance" here is a plain NATS client pulling from the queue the way the agent runtime
 * does, and never acking, so the server alone decides how many it gets.
 */
let nats: TestNatsServer;
let bus: NatsBus;
let store: SqlStore;
let dir: string;
let economy: ApiContext['economy'];
let limits: ToolRunLimits;
let instances: NatsConnection[];
/** An agent config exempts from tool-run limits (a fleet worker under `toolRunLimits: village`). */
let exempt: string | null = null;

beforeAll(async () => {
  nats = await startNatsServer();
  dir = await mkdtemp(join(tmpdir(), 'aiflock-tool-runs-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  bus = await NatsBus.connect({ url: nats.url, log: () => undefined });
  await bus.init();
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock: systemClock });
  // Default tiers: 1, 2 and 4 concurrent tool runs.
  economy = economyServices(ConfigSchema.parse({ dataDir: dir }).economy, store, audit, systemClock);
  const deployments = new DeploymentService({ store, bus, clock: systemClock, defaultImage: 'aiflock/agent:test', poke: () => undefined });
  await deployments.deploy('name: worker\nconcurrency: 8\nreplicas: 2\n');
  limits = new ToolRunLimits({ agents: async () => (await store.deployments.list()).map((d) => ({ name: d.name, limited: exempt !== d.name })), entitlements: economy.compute, limitQueue: (a, n) => bus.limitQueue(a, n), log: () => undefined });
  instances = [await connect({ servers: nats.url }), await connect({ servers: nats.url })];
  const js = instances[0]!.jetstream();
  for (let i = 0; i < 10; i++) await js.publish(subjects.tasks('worker'), new TextEncoder().encode(JSON.stringify({ n: i })));
});

afterAll(async () => {
  for (const nc of instances ?? []) await nc.close();
  await bus?.close();
  await store?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Pull as many as the server will give right now, never acking (the tasks stay in flight). */
async function pullAll(nc: NatsConnection): Promise<number> {
  const consumer = await nc.jetstream().consumers.get(STREAMS.tasks.name, taskConsumerName('worker'));
  let n = 0;
  const batch = await consumer.fetch({ max_messages: 10, expires: 1_000 });
  for await (const m of batch) {
    m.working();
    n++;
  }
  return n;
}

const inFlightCap = async () => (await instances[0]!.jetstreamManager()).consumers.info(STREAMS.tasks.name, taskConsumerName('worker')).then((i) => i.config.max_ack_pending);

describe('concurrent tool runs per tier', () => {
  it('a tier0 agent gets one task in flight across both instances', async () => {
    await limits.sync();
    expect(await inFlightCap()).toBe(1);
    expect((await pullAll(instances[0]!)) + (await pullAll(instances[1]!))).toBe(1);
  });

  it('a balance that reaches tier2 raises the cap to 4 on the next sync, and a redeploy keeps it', async () => {
    await economy.payments.credit({ agent: 'worker', amount: 10_000, paymentTxnId: 'PAY-tool-1', via: 'manual', actor: 'admin' });
    await limits.sync();
    expect(limits.current().get('worker')).toBe(4);
    expect(await inFlightCap()).toBe(4);
    // One already in flight: three more, whoever asks.
    expect((await pullAll(instances[1]!)) + (await pullAll(instances[0]!))).toBe(3);
    const deployments = new DeploymentService({ store, bus, clock: systemClock, defaultImage: 'aiflock/agent:test', poke: () => undefined });
    await deployments.deploy('name: worker\nconcurrency: 8\nreplicas: 3\n');
    expect(await inFlightCap()).toBe(4);
  });

  it('a frozen agent is held to one (the bus cannot hold a queue at zero)', async () => {
    await economy.compute.setFrozen({ agent: 'worker', frozen: true, actor: 'admin' });
    await limits.sync();
    expect(await inFlightCap()).toBe(1);
  });

  it('an agent the config exempts gets its queue back uncapped', async () => {
    exempt = 'worker';
    await limits.sync();
    expect(await inFlightCap()).toBe(1_000);
    expect(limits.current().get('worker')).toBe(1_000);
    exempt = null;
    await limits.sync();
    expect(await inFlightCap()).toBe(1);
  });
});
