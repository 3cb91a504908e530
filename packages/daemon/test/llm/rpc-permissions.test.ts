import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmClient, LlmError } from '@aiflock/agent';
import { RpcRouter, systemClock } from '@aiflock/core';
import { instanceAgent, instancePermissions, subjects } from '@aiflock/protocol';
import { connect, credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { startNatsServer, type TestNatsServer } from '../../../../testkit/nats-server.js';
import { NatsBus } from '../../src/adapters/nats/nats-bus.js';
import { NatsTrust } from '../../src/adapters/nats/trust.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { LlmConfigSchema } from '../../src/llm/config.js';
import { createLlmMetrics } from '../../src/llm/metrics.js';
import { registerLlmOps } from '../../src/llm/rpc-ops.js';
import { setupLlm, type LlmSetup } from '../../src/llm/setup.js';

/**
 * The agent SDK's LLM client under the per-instance bus credentials the daemon issues
 * (publish only under `agent.<id>.>`, replies only on a private inbox prefix): it works
 * through the connection's own inbox prefix, and another instance's subjects are refused by
 * the server, so nobody can call, or read answers, as someone else.
 */
const codec = JSONCodec();
let dir: string;
let nats: TestNatsServer;
let bus: NatsBus;
let store: SqlStore;
let ol: FakeLlmServer;
let llm: LlmSetup;
const conns: NatsConnection[] = [];

const SCOUT = 'scout-aaaa1111';
const OTHER = 'other-bbbb2222';
let trust: NatsTrust;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-rpc-perm-'));
  // The flock's real trust chain and per-instance permissions (what the daemon issues).
  trust = await NatsTrust.open(join(dir, 'trust.json'));
  nats = await startNatsServer({ config: await trust.serverConfig(join(dir, 'resolver')) });
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  for (const [id, agent] of [[SCOUT, 'scout'], [OTHER, 'other']] as const) {
    await store.instances.upsert({ id, agent, status: 'running', handle: null, node: 'n', startedAt: null, lastHeartbeatAt: null, exitCode: null, oomKilled: false });
  }
  ol = await startFakeLlm('ollama');
  llm = await setupLlm(LlmConfigSchema.parse({ providers: { ollama: { url: ol.url } }, models: { default: { provider: 'ollama', model: 'm' } } }), {
    clock: systemClock,
    log: () => undefined,
    metrics: createLlmMetrics(new Registry()),
  });
  const daemon = await trust.issueUser('daemon', {}, null);
  bus = await NatsBus.connect({ url: nats.url, log: () => undefined, authenticator: credsAuthenticator(new TextEncoder().encode(daemon.creds)) });
  const router = new RpcRouter({ store, log: () => undefined });
  registerLlmOps(router, llm, store, () => 'corr');
  bus.onRpc(router.handle);
  await bus.start();
});

afterAll(async () => {
  for (const c of conns) await c.close();
  await bus?.close();
  await llm?.close();
  await ol?.close();
  await store?.close();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function agentConn(id: string): Promise<NatsConnection> {
  const errors: string[] = [];
  const user = await trust.issueUser(id, instancePermissions(id, instanceAgent(id)), 3600);
  const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)), inboxPrefix: subjects.inbox(id) });
  conns.push(nc);
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  return nc;
}

describe('LLM RPC under per-instance bus permissions', () => {
  it('works through the connection’s private inbox prefix, unary and streamed', async () => {
    const nc = await agentConn(SCOUT);
    const client = new LlmClient(nc, SCOUT, (nc as unknown as { options: { inboxPrefix: string } }).options.inboxPrefix);
    ol.next({ kind: 'reply', text: 'private reply' });
    expect((await client.chat({ prompt: 'x' })).text).toBe('private reply');
    ol.next({ kind: 'reply', text: 'streamed privately' });
    const s = client.stream({ prompt: 'x' });
    let text = '';
    for await (const c of s) if (c.type === 'delta') text += c.text;
    expect(text).toBe('streamed privately');
  });

  it('cannot call as another instance: the server refuses the publish and no model is called', async () => {
    const nc = await agentConn(OTHER);
    const before = ol.requests.length;
    // OTHER forges SCOUT's subject.
    const err = await nc.request(subjects.rpc(SCOUT, 'llm', 'chat'), codec.encode({ prompt: 'x' }), { timeout: 1500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/permissions violation/i);
    expect(ol.requests.length).toBe(before);
    // Its own subject still works, with its own identity.
    ol.next({ kind: 'reply', text: 'mine' });
    const client = new LlmClient(nc, OTHER, subjects.inbox(OTHER));
    expect((await client.chat({ prompt: 'x' })).text).toBe('mine');
  });

  it('cannot read another instance’s replies', async () => {
    const nc = await agentConn(OTHER);
    const spy = nc.subscribe(`${subjects.inbox(SCOUT)}.>`);
    const outcome = await (async () => {
      for await (const m of spy) return `received ${m.subject}`;
      return 'ended';
    })().catch((e: unknown) => `refused: ${String(e)}`);
    expect(outcome).toMatch(/^refused: .*permissions violation/i);
  });

  it('an instance whose client uses no private prefix gets no answers: the server will not deliver to a shared inbox', async () => {
    const nc = await agentConn(SCOUT);
    const client = new LlmClient(nc, SCOUT, '_INBOX');
    const err = await client.stream({ prompt: 'x' }, { timeoutMs: 500 })[Symbol.asyncIterator]().next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(LlmError);
    expect(String(err)).toMatch(/permissions violation/i);
  });
});
