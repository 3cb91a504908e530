import { LlmClient, LlmError } from '@aiflock/agent';
import { instanceAgent, instancePermissions, subjects } from '@aiflock/protocol';
import { credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayOverBus, type GatewayOverBus } from './gateway-over-bus.js';

/**
 * The agent SDK's LLM client under the per-instance bus credentials the daemon issues
 * (publish only under `agent.<id>.>`, replies only on a private inbox prefix): it works
 * through the connection's own inbox prefix, and another instance's subjects are refused by
 * the server, so nobody can call, or read answers, as someone else.
 */
const codec = JSONCodec();
let h: GatewayOverBus;
let ol: GatewayOverBus['ol'];

const SCOUT = 'scout-aaaa1111';
const OTHER = 'other-bbbb2222';

beforeAll(async () => {
  // The flock's real trust chain and per-instance permissions (what the daemon issues).
  h = await startGatewayOverBus({
    name: 'rpc-perm',
    trust: true,
    instances: [
      [SCOUT, 'scout'],
      [OTHER, 'other'],
    ],
    llm: (ol) => ({ providers: { ollama: { url: ol.url } }, models: { default: { provider: 'ollama', model: 'm' } } }),
  });
  ol = h.ol;
});

afterAll(async () => {
  await h?.close();
});

async function agentConn(id: string): Promise<NatsConnection> {
  const errors: string[] = [];
  const user = await h.trust!.issueInstanceUser(id, instancePermissions(id, instanceAgent(id)), 3600);
  const nc = await h.connect({ authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)), inboxPrefix: subjects.inbox(id) });
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

  it('cancels a stream across the account boundary (the daemon sees a reply route of the server’s, the stream is named in a header)', async () => {
    const nc = await agentConn(SCOUT);
    const client = new LlmClient(nc, SCOUT, subjects.inbox(SCOUT));
    ol.next({ kind: 'reply', text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 30 });
    const ac = new AbortController();
    const got: string[] = [];
    const err = await (async () => {
      for await (const c of client.stream({ prompt: 'long story' }, { signal: ac.signal })) {
        if (c.type === 'delta') got.push(c.text);
        if (got.length === 2) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'cancelled' });
    await expect.poll(() => ol.requests.at(-1)!.aborted).toBe(true);
    await expect.poll(() => h.router.activeStreams()).toBe(0);
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
