import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmClient, LlmError } from '@aiflock/agent';
import { RpcRouter, systemClock } from '@aiflock/core';
import { subjects } from '@aiflock/protocol';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { startNatsServer, type TestNatsServer } from '../../../../testkit/nats-server.js';
import { NatsBus } from '../../src/adapters/nats/nats-bus.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { LlmConfigSchema } from '../../src/llm/config.js';
import { createLlmMetrics } from '../../src/llm/metrics.js';
import { registerLlmOps } from '../../src/llm/rpc-ops.js';
import { setupLlm, type LlmSetup } from '../../src/llm/setup.js';

/**
 * The agent SDK's LLM client under per-instance bus permissions of the kind the DESIGN asks
 * for (publish only under `agent.<id>.>`, replies only on a private inbox prefix): it works
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

const agentUser = (id: string) => `{ user: ${id}, password: pw-${id}, permissions: { publish: { allow: ["agent.${id}.>"] }, subscribe: { allow: ["_INBOX_${id}.>"] } } }`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-rpc-perm-'));
  const conf = join(dir, 'nats.conf');
  // The control plane connects without credentials and is mapped to the unrestricted user.
  await writeFile(conf, `no_auth_user: daemon\nauthorization { users: [ { user: daemon, password: pw-daemon }, ${agentUser('scout-1')}, ${agentUser('other-1')} ] }\n`);
  nats = await startNatsServer({ args: ['-c', conf] });
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  for (const [id, agent] of [['scout-1', 'scout'], ['other-1', 'other']] as const) {
    await store.instances.upsert({ id, agent, status: 'running', handle: null, node: 'n', startedAt: null, lastHeartbeatAt: null, exitCode: null, oomKilled: false });
  }
  ol = await startFakeLlm('ollama');
  llm = await setupLlm(LlmConfigSchema.parse({ providers: { ollama: { url: ol.url } }, models: { default: { provider: 'ollama', model: 'm' } } }), {
    clock: systemClock,
    log: () => undefined,
    metrics: createLlmMetrics(new Registry()),
  });
  bus = await NatsBus.connect({ url: nats.url, log: () => undefined });
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
  const nc = await connect({ servers: nats.url, user: id, pass: `pw-${id}`, inboxPrefix: `_INBOX_${id}` });
  conns.push(nc);
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  return nc;
}

describe('LLM RPC under per-instance bus permissions', () => {
  it('works through the connection’s private inbox prefix, unary and streamed', async () => {
    const nc = await agentConn('scout-1');
    const client = new LlmClient(nc, 'scout-1', (nc as unknown as { options: { inboxPrefix: string } }).options.inboxPrefix);
    ol.next({ kind: 'reply', text: 'private reply' });
    expect((await client.chat({ prompt: 'x' })).text).toBe('private reply');
    ol.next({ kind: 'reply', text: 'streamed privately' });
    const s = client.stream({ prompt: 'x' });
    let text = '';
    for await (const c of s) if (c.type === 'delta') text += c.text;
    expect(text).toBe('streamed privately');
  });

  it('cannot call as another instance: the server refuses the publish and no model is called', async () => {
    const nc = await agentConn('other-1');
    const before = ol.requests.length;
    // other-1 forges scout-1's subject.
    const err = await nc.request(subjects.rpc('scout-1', 'llm', 'chat'), codec.encode({ prompt: 'x' }), { timeout: 1500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/permissions violation/i);
    expect(ol.requests.length).toBe(before);
    // Its own subject still works, with its own identity.
    ol.next({ kind: 'reply', text: 'mine' });
    const client = new LlmClient(nc, 'other-1', '_INBOX_other-1');
    expect((await client.chat({ prompt: 'x' })).text).toBe('mine');
  });

  it('cannot read another instance’s replies', async () => {
    const nc = await agentConn('other-1');
    const spy = nc.subscribe('_INBOX_scout-1.>');
    const outcome = await (async () => {
      for await (const m of spy) return `received ${m.subject}`;
      return 'ended';
    })().catch((e: unknown) => `refused: ${String(e)}`);
    expect(outcome).toMatch(/^refused: .*permissions violation/i);
  });

  it('an instance whose client uses no private prefix gets no answers: the server will not deliver to a shared inbox', async () => {
    const nc = await agentConn('scout-1');
    const client = new LlmClient(nc, 'scout-1', '_INBOX');
    const err = await client.stream({ prompt: 'x' }, { timeoutMs: 500 })[Symbol.asyncIterator]().next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(LlmError);
    expect(String(err)).toMatch(/permissions violation/i);
  });
});
