import { LlmClient } from '@aiflock/agent';
import { instanceAgent, instancePermissions, RPC_REPLY_HEADER, subjects } from '@aiflock/protocol';
import { credsAuthenticator, headers, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayOverBus, type GatewayOverBus } from './gateway-over-bus.js';

/**
 * The agent SDK's LLM client under the per-instance bus credentials the daemon issues
 * (publish only under `agent.<id>.>`, answers only on its own `replies.<id>.*` and inbox
 * prefix): it works, another instance's subjects are refused by the server, so nobody can
 * call, or read answers, as someone else, and no request can have the control plane answer
 * anywhere but on the caller's own reply subjects.
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

  it('cannot read another instance’s answers on replies.<id>.*, nor all of them, nor publish there', async () => {
    const nc = await agentConn(OTHER);
    for (const subject of [`${subjects.replies(SCOUT)}.*`, `${subjects.replies(SCOUT)}.abc`, 'replies.>', 'replies.*.*']) {
      const outcome = await (async () => {
        for await (const m of nc.subscribe(subject)) return `received ${m.subject}`;
        return 'ended';
      })().catch((e: unknown) => `refused: ${String(e)}`);
      expect(outcome, subject).toMatch(/^refused: .*permissions violation/i);
    }
    // A forged answer, or one aimed at its own waiters: the server refuses the publish.
    const own = await agentConn(SCOUT);
    const seen: string[] = [];
    own.subscribe(`${subjects.replies(SCOUT)}.*`, { callback: (_e, m) => seen.push(m.subject) });
    const forger = await agentConn(OTHER);
    const errors = statusErrors(forger);
    forger.publish(`${subjects.replies(SCOUT)}.abc`, codec.encode({ ok: true, result: 'forged' }));
    forger.publish(`${subjects.replies(OTHER)}.abc`, codec.encode({ ok: true, result: 'forged' }));
    await forger.flush();
    await expect.poll(() => errors.length).toBe(2);
    // The forger holds no subscription: both violations are its publishes.
    expect(errors).toEqual(['PERMISSIONS_VIOLATION', 'PERMISSIONS_VIOLATION']);
    await own.flush();
    expect(seen).toEqual([]);
  });

  it('an answer is never published where the request’s header says unless that is the caller’s own replies.<id>.<token>: otherwise it takes the reply route', async () => {
    const nc = await agentConn(OTHER);
    const victim = await agentConn(SCOUT);
    const stolen: string[] = [];
    victim.subscribe(`${subjects.replies(SCOUT)}.*`, { callback: (_e, m) => stolen.push(m.subject) });
    // What the control plane's account sees besides requests: nothing on these.
    const flock = h.bus.connection();
    const captured: string[] = [];
    for (const s of ['replies.>', 'agent.*.results', 'agent.*.events', 'tasks.>', 'deliveries.>', 'ctl.*', 'broadcast']) flock.subscribe(s, { callback: (_e, m) => captured.push(m.subject) });
    await flock.flush();
    const named = [`${subjects.replies(SCOUT)}.x`, 'replies.*.*', 'replies.>', `${subjects.replies(OTHER)}.a.b`, `${subjects.replies(OTHER)}.*`, `${subjects.replies(OTHER)}.>`, subjects.results(SCOUT), subjects.tasks('scout'), `${subjects.deliveries(SCOUT)}.1`, subjects.control(SCOUT)];
    for (const header of named) {
      const route = `${subjects.replies(OTHER)}.tok${named.indexOf(header)}`;
      const answer = new Promise<string>((resolve) => {
        const sub = nc.subscribe(route, { max: 1, callback: (_e, m) => resolve(`${m.subject} ${String((codec.decode(m.data) as { ok?: unknown }).ok)}`) });
        setTimeout(() => {
          sub.unsubscribe();
          resolve('no answer');
        }, 3_000);
      });
      const hd = headers();
      hd.set(RPC_REPLY_HEADER, header);
      nc.publish(subjects.rpc(OTHER, 'llm', 'models'), codec.encode({}), { reply: route, headers: hd });
      // The answer came back to the caller on the server's route, to the reply subject it named.
      expect(await answer, header).toBe(`${route} true`);
    }
    await victim.flush();
    await flock.flush();
    expect(stolen).toEqual([]);
    expect(captured).toEqual([]);
  });

  it('with credentials that do not allow replies.<id>.* (an older control plane issued them), calls fail at once with the server’s refusal', async () => {
    const granted = instancePermissions(SCOUT, instanceAgent(SCOUT));
    const older = { ...granted, sub: { allow: granted.sub.allow.filter((s) => !s.startsWith('replies.')) } };
    const user = await h.trust!.issueInstanceUser(SCOUT, older, 3600);
    const nc = await h.connect({ authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)), inboxPrefix: subjects.inbox(SCOUT) });
    const client = new LlmClient(nc, SCOUT, subjects.inbox(SCOUT));
    const started = Date.now();
    await expect(client.models({ timeoutMs: 10_000 })).rejects.toThrow(/permissions violation/i);
    await expect(client.models({ timeoutMs: 10_000 })).rejects.toThrow(/permissions violation/i);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('without a reply subject, a request naming its own replies subject in the header is still answered there', async () => {
    const nc = await agentConn(SCOUT);
    const at = `${subjects.replies(SCOUT)}.only-a-header`;
    const answer = new Promise<unknown>((resolve) => nc.subscribe(at, { max: 1, callback: (_e, m) => resolve(codec.decode(m.data)) }));
    const hd = headers();
    hd.set(RPC_REPLY_HEADER, at);
    nc.publish(subjects.rpc(SCOUT, 'llm', 'models'), codec.encode({}), { headers: hd });
    expect(await answer).toMatchObject({ ok: true });
  });
});

function statusErrors(nc: NatsConnection): string[] {
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  return errors;
}
