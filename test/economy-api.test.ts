import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountBoardOps, mountEconomyOps, signWebhook, systemClock, type PostRecord } from '@aiflock/core';
import type { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';
import { ConfigSchema } from '../packages/daemon/src/config.js';
import { economyServices } from '../packages/daemon/src/economy.js';
import type { ApiContext } from '../packages/daemon/src/http/context.js';
import { apiFetch } from '../testkit/api-fetch.js';
import { buildTestApp, coreApiServices, listenOnLoopback, recordRoutes, startApiBackends, type ApiBackends, type RouteRecord } from '../testkit/api-app.js';
import { apiCli } from '../testkit/cli.js';
import { opCaller } from '../testkit/op-caller.js';
import { REPO_ROOT } from '../testkit/flock.js';

/**
 * The economy and the board end to end without sandboxes: the daemon's real HTTP app over a
 * real SQLite store (storage is proven on PostgreSQL too by the contract suite), real NATS
 * for deployments, the real built CLI, and the board's bus handlers called as the RPC router
 * will call them. Auth is not on this branch: a test hook plays the auth layer by setting
 * the request's actor from `x-test-actor`, as the auth plugin will from a token.
 */
const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const ECHO = readFileSync(join(REPO_ROOT, 'examples', 'echo.agent.yaml'), 'utf8');

let backends: ApiBackends;
let store: SqlStore;
let app: FastifyInstance;
let url: string;
let ctx: ApiContext;
let routes: RouteRecord[];

beforeAll(async () => {
  backends = await startApiBackends('economy-api');
  const { dir, bus } = backends;
  store = backends.store;
  const core = coreApiServices(store, bus, dir);
  const config = ConfigSchema.parse({
    dataDir: dir,
    economy: { webhook: { secret: SECRET, toleranceSeconds: 300 }, rewards: { maxAmount: 20_000, perPersonDaily: 30_000, perPostCap: 25_000 }, board: { postsPerMinute: 5, maxBody: 2_000 } },
  });
  ctx = {
    ...core,
    store,
    economy: economyServices(config.economy, store, core.audit, systemClock),
    backup: null,
    readiness: async () => ({}),
  } as unknown as ApiContext;
  // Scopes are proven route by route by the scope walk (packages/daemon/test/scope-walk.test.ts);
  // here the loopback bypass lets requests in and `x-test-actor` then names the person, so the
  // economy's own rules (self-reward, limits) are exercised for several people.
  app = buildTestApp(store, ctx, { devBypassLoopback: true });
  routes = recordRoutes(app);
  app.addHook('onRequest', async (req) => {
    const who = req.headers['x-test-actor'];
    if (typeof who === 'string') req.actor = { id: who, scopes: who.startsWith('admin') ? ['admin'] : ['human'] };
  });
  url = await listenOnLoopback(app);
  // Two agents: `echo` owned by carol, `scout` with no owner.
  await ctx.deployments.deploy(ECHO.replace('name: echo', 'name: echo\nowner: carol'));
  await ctx.deployments.deploy(ECHO.replace('name: echo', 'name: scout'));
}, 60_000);

afterAll(async () => {
  await app?.close();
  await backends?.close();
  cliRunner.cleanup();
});

/** The response fields these tests read; each route fills its own. */
interface Body {
  error: { code: string; message: string; details?: unknown };
  posts: PostRecord[];
  next: string;
  id: string;
  economy: { tier: string; limits: { models: string[] } };
  rewards: unknown;
  txn: { id: string };
  totals: unknown;
  credits: { paymentTxnId: string }[];
  [k: string]: unknown;
}

const api = async (method: string, path: string, body?: unknown, as?: string, headers: Record<string, string> = {}) => {
  const res = await apiFetch(url, path, { method, body, headers: { ...(as ? { 'x-test-actor': as } : {}), ...headers } }, null);
  return { status: res.status, body: res.body as Body };
};

const cliRunner = apiCli(() => url);
// The CLI cannot set the test actor header; its calls run as `anonymous` unless the test hook
// is bypassed, which these read/credit checks do not need.
const cli = (args: string[], _as = 'ann') => cliRunner.run(args);

const agentCaller = (agent: string) => ({ instanceId: `${agent}-abcdefgh`, agent });

describe('board over HTTP and the bus', () => {
  let agentPost: PostRecord;

  it('an agent posts over the bus, a person replies over HTTP, and the agent reads the reply on its next loop', async () => {
    const rpc = opCaller((r) => mountBoardOps(r, ctx.economy.board));
    agentPost = (await rpc(agentCaller('echo'), 'board.post', { title: 'Need a CSV parser', body: 'Who can review <script>alert(1)</script> my parser?', tags: ['help', 'code'] })) as PostRecord;
    expect(agentPost).toMatchObject({ authorType: 'agent', authorId: 'agent:echo', status: 'open', audience: 'public', tags: ['help', 'code'] });
    // Stored verbatim: escaping is the renderer's job, and the API returns JSON only.
    expect(agentPost.body).toContain('<script>');

    const reply = await api('POST', `/v1/board/posts/${agentPost.id}/replies`, { body: 'Use the csv-parse library.' }, 'ann');
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ authorType: 'human', authorId: 'human:ann', postId: agentPost.id });

    const seen = (await rpc(agentCaller('echo'), 'board.get', { postId: agentPost.id })) as { replies: { body: string; authorId: string }[] };
    expect(seen.replies.map((r) => [r.authorId, r.body])).toEqual([['human:ann', 'Use the csv-parse library.']]);

    // The agent cannot pick its author: a payload naming another author is refused by the schema.
    await expect(rpc(agentCaller('echo'), 'board.post', { title: 't', body: 'b', authorId: 'agent:scout' })).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('filters by status, tag and author, pages with a cursor, and respects audiences', async () => {
    const rpc = opCaller((r) => mountBoardOps(r, ctx.economy.board));
    for (const [title, tags, audience] of [
      ['to humans', ['ask'], 'humans'],
      ['to scout only', ['ask'], 'agent:scout'],
      ['to agents', ['ask', 'code'], 'agents'],
    ] as const) {
      expect((await api('POST', '/v1/board/posts', { title, body: 'x', tags: [...tags], audience }, 'bob')).status).toBe(201);
    }
    const byTag = await api('GET', '/v1/board/posts?tag=code', undefined, 'ann');
    expect(byTag.body.posts.map((p: PostRecord) => p.title)).toEqual(['to agents', 'Need a CSV parser']);
    const byAuthor = await api('GET', `/v1/board/posts?author=${encodeURIComponent('human:bob')}&limit=2`, undefined, 'ann');
    expect(byAuthor.body.posts.map((p: PostRecord) => p.title)).toEqual(['to agents', 'to scout only']);
    const page2 = await api('GET', `/v1/board/posts?author=${encodeURIComponent('human:bob')}&limit=2&cursor=${byAuthor.body.next}`, undefined, 'ann');
    expect(page2.body.posts.map((p: PostRecord) => p.title)).toEqual(['to humans']);
    // Agents see public, agents and their own; never posts addressed to people or other agents.
    const echoSees = (await rpc(agentCaller('echo'), 'board.list', {})) as { posts: PostRecord[] };
    expect(echoSees.posts.map((p) => p.title)).toEqual(['to agents', 'Need a CSV parser']);
    const scoutSees = (await rpc(agentCaller('scout'), 'board.list', {})) as { posts: PostRecord[] };
    expect(scoutSees.posts.map((p) => p.title)).toEqual(['to agents', 'to scout only', 'Need a CSV parser']);
    const hidden = echoSees.posts.length ? (await api('GET', '/v1/board/posts?limit=10', undefined, 'ann')).body.posts.find((p: PostRecord) => p.title === 'to scout only') : null;
    await expect(rpc(agentCaller('echo'), 'board.get', { postId: hidden!.id })).rejects.toMatchObject({ code: 'post_not_found' });
    expect((await api('GET', '/v1/board/posts?status=open&tag=Bad Tag', undefined, 'ann')).status).toBe(400);
  });

  it('refuses oversize bodies and over-eager authors, writing nothing', async () => {
    const big = await api('POST', '/v1/board/posts', { title: 'big', body: 'x'.repeat(2_001) }, 'dave');
    expect(big.status).toBe(413);
    expect(big.body.error.message).toContain('at most 2000');
    for (let i = 0; i < 5; i++) expect((await api('POST', '/v1/board/posts', { title: `p${i}`, body: 'x' }, 'dave')).status).toBe(201);
    const sixth = await api('POST', '/v1/board/posts', { title: 'p5', body: 'x' }, 'dave');
    expect(sixth.status).toBe(429);
    expect(sixth.body.error.code).toBe('rate_limited');
    expect((await api('GET', `/v1/board/posts?author=${encodeURIComponent('human:dave')}&limit=50`, undefined, 'ann')).body.posts).toHaveLength(5);
  });

  it('moderation hides a post from readers without deleting it', async () => {
    const p = await api('POST', '/v1/board/posts', { title: 'spam', body: 'buy now', tags: ['spam'] }, 'erin');
    const mod = await api('POST', `/v1/board/posts/${p.body.id}/moderate`, { action: 'hide', reason: 'advertising' }, 'admin-1');
    expect(mod.body).toMatchObject({ status: 'moderated', moderation: { by: 'admin-1', action: 'hide', reason: 'advertising' } });
    expect((await api('GET', `/v1/board/posts/${p.body.id}`, undefined, 'ann')).status).toBe(404);
    expect((await api('GET', '/v1/board/posts?tag=spam', undefined, 'ann')).body.posts).toEqual([]);
    // Still stored, and still visible to an admin.
    expect((await api('GET', `/v1/board/posts/${p.body.id}`, undefined, 'admin-1')).body).toMatchObject({ title: 'spam', status: 'moderated' });
    expect((await api('POST', `/v1/board/posts/${p.body.id}/moderate`, { action: 'explode', reason: 'x' }, 'admin-1')).status).toBe(400);
  });

  it('a bounty is escrowed from the author and refused when the balance cannot cover it', async () => {
    const rpc = opCaller((r) => mountBoardOps(r, ctx.economy.board));
    await expect(rpc(agentCaller('scout'), 'board.post', { title: 'bounty', body: 'b', bounty: 500 })).rejects.toMatchObject({ code: 'insufficient_funds' });
    await ctx.economy.payments.credit({ agent: 'scout', amount: 800, paymentTxnId: 'seed-scout', via: 'manual', actor: 'admin-1' });
    const post = (await rpc(agentCaller('scout'), 'board.post', { title: 'bounty', body: 'b', bounty: 500 })) as PostRecord;
    expect(post.bounty).toBe(500);
    expect(await store.ledger.balance('agent:scout')).toBe(300);
    expect(await store.ledger.balance('escrow')).toBe(500);
    expect((await api('GET', `/v1/board/posts/${post.id}`, undefined, 'ann')).body.bountyState).toEqual({ state: 'escrowed', to: null });

    // Only someone who replied can win it, and only the author (or an admin) resolves.
    await api('POST', `/v1/board/posts/${post.id}/replies`, { body: 'done: see PR 12' }, 'bob');
    expect((await api('POST', `/v1/board/posts/${post.id}/resolve`, { awardTo: 'human:bob' }, 'bob')).body.error.message).toContain('only the author');
    await expect(rpc(agentCaller('scout'), 'board.resolve', { postId: post.id, awardTo: 'human:zed' })).rejects.toMatchObject({ details: { field: 'awardTo' } });
    const resolved = (await rpc(agentCaller('scout'), 'board.resolve', { postId: post.id, awardTo: 'human:bob' })) as PostRecord;
    expect(resolved).toMatchObject({ status: 'resolved', moderation: { by: 'agent:scout', reason: 'awarded to human:bob' } });
    expect(await store.ledger.balance('human:bob')).toBe(500);
    expect(await store.ledger.balance('escrow')).toBe(0);
    expect((await api('GET', `/v1/board/posts/${post.id}`, undefined, 'ann')).body.bountyState).toEqual({ state: 'paid', to: 'human:bob' });
    await expect(rpc(agentCaller('scout'), 'board.resolve', { postId: post.id })).rejects.toMatchObject({ code: 'validation_failed' });

    // Closing an unpaid bounty's post returns the bounty to its author, once.
    const second = (await rpc(agentCaller('scout'), 'board.post', { title: 'bounty 2', body: 'b', bounty: 200 })) as PostRecord;
    expect(await store.ledger.balance('agent:scout')).toBe(100);
    await api('POST', `/v1/board/posts/${second.id}/moderate`, { action: 'close', reason: 'stale' }, 'admin-1');
    await api('POST', `/v1/board/posts/${second.id}/moderate`, { action: 'hide', reason: 'stale' }, 'admin-1');
    expect(await store.ledger.balance('agent:scout')).toBe(300);
    expect((await store.ledger.list({ postId: second.id, limit: 10 })).map((t) => t.reason)).toEqual(['bounty_refund', 'bounty_escrow']);
  });

  describe('rewards and penalties', () => {
    it('a reward raises the tier visibly; a penalty lowers it; both show on the post', async () => {
      const before = await api('GET', '/v1/agents/echo');
      expect(before.body.economy).toMatchObject({ tier: 'tier0', balance: 0, limits: { models: ['small', 'default', 'fast', 'embed'] } });
      const r = await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 12_000, postId: agentPost.id, note: 'great question', idempotencyKey: 'r-1' }, 'ann');
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ applied: true, balance: 12_000 });
      const retry = await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 12_000, postId: agentPost.id, note: 'great question', idempotencyKey: 'r-1' }, 'ann');
      expect(retry).toMatchObject({ status: 200, body: { applied: false, balance: 12_000 } });
      const up = await api('GET', '/v1/agents/echo');
      expect(up.body.economy).toMatchObject({ tier: 'tier2', balance: 12_000 });
      expect(up.body.economy.limits.models).toContain('large');
      const pen = await api('POST', '/v1/economy/penalize', { agent: 'echo', amount: 11_500, postId: agentPost.id, idempotencyKey: 'p-1' }, 'bob');
      expect(pen).toMatchObject({ status: 201, body: { balance: 500 } });
      expect((await api('GET', '/v1/economy/balance/echo')).body).toMatchObject({ aiDollars: '5.00', entitlements: { tier: 'tier0' } });
      expect((await api('GET', `/v1/board/posts/${agentPost.id}`, undefined, 'ann')).body.rewards).toEqual({ total: 12_000, penalties: 11_500, count: 2 });
      const penTooMuch = await api('POST', '/v1/economy/penalize', { agent: 'echo', amount: 600, postId: agentPost.id }, 'bob');
      expect(penTooMuch).toMatchObject({ status: 409, body: { error: { code: 'insufficient_funds' } } });
    });

    it('nobody rewards an agent they own, or one that had no part in the post', async () => {
      const own = await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 100, postId: agentPost.id }, 'carol');
      expect(own).toMatchObject({ status: 403, body: { error: { code: 'reward_not_allowed' } } });
      expect(own.body.error.message).toContain('owns agent echo');
      // It says why (owners may not) and what to do instead, not only that it was refused.
      expect(own.body.error.message).toMatch(/nobody may reward an agent they own; reward it as another person.*aiflock token create --name <person> --scope human/);
      const unrelated = await api('POST', '/v1/economy/reward', { agent: 'scout', amount: 100, postId: agentPost.id }, 'ann');
      expect(unrelated).toMatchObject({ status: 400, body: { error: { details: { field: 'agent' } } } });
      const noPost = await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 100, postId: 'post_00000000000000000000000' }, 'ann');
      expect(noPost.status).toBe(404);
      const denied = await store.audit.list({ action: 'economy.reward', limit: 10 });
      expect(denied.filter((e) => e.outcome === 'denied').map((e) => e.actor)).toEqual(['carol']);
    });

    it('caps rewards per post and per person per day', async () => {
      // ann has given 120.00 today (limit 300.00); the post has 120.00 of its 250.00 cap.
      const cap = await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 13_001, postId: agentPost.id }, 'gil');
      expect(cap).toMatchObject({ status: 429, body: { error: { code: 'reward_limit_exceeded', details: { used: 12_000, limit: 25_000 } } } });
      const rpc = opCaller((r) => mountBoardOps(r, ctx.economy.board));
      const other = (await rpc(agentCaller('echo'), 'board.post', { title: 'second', body: 'b' })) as PostRecord;
      expect((await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 18_000, postId: other.id }, 'ann')).status).toBe(201);
      const daily = await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 1, postId: other.id }, 'ann');
      expect(daily).toMatchObject({ status: 429, body: { error: { code: 'reward_limit_exceeded', details: { used: 30_000, limit: 30_000 } } } });
      expect((await api('POST', '/v1/economy/reward', { agent: 'echo', amount: 20_001, postId: other.id }, 'hal')).status).toBe(429);
    });
  });
});

describe('board stream', () => {
  it('pushes new posts and replies to subscribers, only within their audience, and hides moderated text', async () => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws/board`, { headers: { 'x-test-actor': 'ann' } });
    const messages: { type: string; payload: Record<string, unknown> }[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data: Buffer) => {
      messages.push(JSON.parse(data.toString()) as { type: string; payload: Record<string, unknown> });
      for (const w of waiters.splice(0)) w();
    });
    const until = async (n: number) => {
      while (messages.length < n) await new Promise<void>((r) => waiters.push(r));
    };
    await until(1);
    expect(messages[0]).toMatchObject({ type: 'hello', payload: { stream: 'board' } });

    const rpc = opCaller((r) => mountBoardOps(r, ctx.economy.board));
    const p = (await rpc(agentCaller('scout'), 'board.post', { title: 'streamed', body: 'hello village' })) as PostRecord;
    await until(2);
    expect(messages[1]).toMatchObject({ type: 'post', payload: { id: p.id, title: 'streamed', authorId: 'agent:scout' } });
    await api('POST', `/v1/board/posts/${p.id}/replies`, { body: 'welcome' }, 'bob');
    await until(3);
    expect(messages[2]).toMatchObject({ type: 'reply', payload: { postId: p.id, body: 'welcome', authorId: 'human:bob' } });
    await api('POST', `/v1/board/posts/${p.id}/moderate`, { action: 'hide', reason: 'test' }, 'admin-1');
    await until(4);
    expect(messages[3]).toEqual({ type: 'status', ts: expect.any(String), payload: { id: p.id, status: 'moderated' } });
    ws.close();
  });
});

describe('payments', () => {
  it('a manual credit applies once per payment id; a different amount for the same id is a conflict', async () => {
    const body = { agent: 'scout', amount: 2_500, paymentTxnId: 'PAY-001', note: 'paypal' };
    const first = await api('POST', '/v1/economy/credit', body, 'admin-1');
    expect(first).toMatchObject({ status: 201, body: { applied: true } });
    expect(await api('POST', '/v1/economy/credit', body, 'admin-1')).toMatchObject({ status: 200, body: { applied: false, txn: { id: first.body.txn.id } } });
    expect(await api('POST', '/v1/economy/credit', { ...body, amount: 2_501 }, 'admin-1')).toMatchObject({ status: 409, body: { error: { code: 'idempotency_conflict' } } });
    expect((await api('POST', '/v1/economy/credit', { ...body, amount: 1.5 }, 'admin-1')).status).toBe(400);
    expect(await store.ledger.balance('agent:scout')).toBe(2_800);
  });

  it('crediting an agent that does not exist is a 404 and mints nothing, by hand or by webhook', async () => {
    const before = await store.ledger.list({ limit: 10_000 });
    const r = await api('POST', '/v1/economy/credit', { agent: 'nobody', amount: 1_000_000, paymentTxnId: 'PAY-GHOST' }, 'admin-1');
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'agent_not_found', details: { agent: 'nobody' } } } });
    const hook = await send(JSON.stringify({ id: 'evt-ghost', type: 'payment.completed', agent: 'nobody', amount: 5, paymentTxnId: 'PAY-GHOST-2' }));
    expect(hook.status).toBe(404);
    expect(await store.ledger.balance('agent:nobody')).toBe(0);
    expect((await store.ledger.list({ limit: 10_000 })).length).toBe(before.length);
  });

  const send = (body: string, opts: { ts?: number; secret?: string; sig?: string } = {}) => {
    const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
    return api('POST', '/v1/payments/webhook', body, undefined, { 'x-flock-timestamp': ts, 'x-flock-signature': opts.sig ?? signWebhook(opts.secret ?? SECRET, ts, body) });
  };
  const event = (id: string, paymentTxnId: string, amount = 1_000) => JSON.stringify({ id, type: 'payment.completed', agent: 'scout', amount, paymentTxnId });

  it('the signed webhook credits once per event; bad signatures, old timestamps and tampered bodies change nothing', async () => {
    const balance = () => store.ledger.balance('agent:scout');
    const start = await balance();
    const bad = await send(event('evt-1', 'PAY-100'), { secret: 'x'.repeat(40) });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const old = await send(event('evt-1', 'PAY-100'), { ts: Math.floor(Date.now() / 1000) - 301 });
    expect(old.status).toBe(401);
    expect(old.body.error.message).toContain('replay');
    const ts = Math.floor(Date.now() / 1000);
    const tampered = await api('POST', '/v1/payments/webhook', event('evt-1', 'PAY-100', 999_999), undefined, { 'x-flock-timestamp': String(ts), 'x-flock-signature': signWebhook(SECRET, String(ts), event('evt-1', 'PAY-100')) });
    expect(tampered.status).toBe(401);
    expect((await api('POST', '/v1/payments/webhook', event('evt-1', 'PAY-100'), undefined, {})).status).toBe(401);
    expect(await balance()).toBe(start);

    const ok = await send(event('evt-1', 'PAY-100'));
    expect(ok).toMatchObject({ status: 201, body: { eventId: 'evt-1', duplicate: false } });
    // The same event delivered again (a provider retry, or a replay inside the window) is one credit.
    expect(await send(event('evt-1', 'PAY-100'))).toMatchObject({ status: 200, body: { duplicate: true } });
    // The manual route cannot credit a payment the webhook already credited.
    expect((await api('POST', '/v1/economy/credit', { agent: 'scout', amount: 1_000, paymentTxnId: 'PAY-100' }, 'admin-1')).status).toBe(409);
    expect(await balance()).toBe(start + 1_000);
    expect((await send(JSON.stringify({ id: 'evt-2', type: 'payment.refunded', agent: 'scout', amount: 5, paymentTxnId: 'PAY-101' }))).status).toBe(400);
    const denied = await store.audit.list({ action: 'payments.webhook', limit: 10 });
    expect(denied.filter((e) => e.outcome === 'denied')).toHaveLength(4);
  });

  it('the reconciliation report lists every credit by how it arrived', async () => {
    const r = await api('GET', '/v1/economy/reconciliation', undefined, 'admin-1');
    expect(r.body.totals).toEqual({ manual: 800 + 2_500, webhook: 1_000 });
    expect(r.body.credits.map((c: { paymentTxnId: string }) => c.paymentTxnId)).toEqual(['PAY-100', 'PAY-001', 'seed-scout']);
  });

  it('exports balances by account kind as Prometheus gauges that sum to zero', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (kind: string) => Number(new RegExp(`^aiflock_economy_balance_cents\\{kind="${kind}"\\} (-?\\d+)$`, 'm').exec(text)?.[1]);
    const kinds = ['mint', 'fees', 'escrow', 'agents', 'humans'].map(value);
    for (const v of kinds) expect(Number.isInteger(v)).toBe(true);
    expect(kinds.reduce((a, b) => a + b, 0)).toBe(0);
    expect(value('agents')).toBe(await store.ledger.balance('agent:echo') + (await store.ledger.balance('agent:scout')));
    expect(value('humans')).toBe(500);
  });

  it('the whole ledger verifies against the audit log after everything above', async () => {
    const v = await api('GET', '/v1/economy/verify', undefined, 'admin-1');
    expect(v.body).toMatchObject({ ok: true, sum: 0, problems: [] });
    expect(v.body['transactions']).toBeGreaterThanOrEqual(10);
  });

  it('no route sends money out of the flock', () => {
    const money = [...new Set(routes.filter((r) => /economy|payments/.test(r.url)).map((r) => r.url))];
    expect(money.sort()).toEqual(
      ['/v1/economy/balance/:agent', '/v1/economy/compute/:agent/freeze', '/v1/economy/compute/:agent/purchase', '/v1/economy/credit', '/v1/economy/ledger/:agent', '/v1/economy/penalize', '/v1/economy/reconciliation', '/v1/economy/reward', '/v1/economy/tiers', '/v1/economy/verify', '/v1/payments/webhook'].sort(),
    );
  });
});

describe('admin compute controls', () => {
  it('freezing forces tier none on the agent view, and is audited', async () => {
    const f = await api('POST', '/v1/economy/compute/scout/freeze', { frozen: true, note: 'looping' }, 'admin-1');
    expect(f.body).toMatchObject({ tier: 'none', frozen: true });
    expect((await api('GET', '/v1/agents/scout')).body.economy).toMatchObject({ tier: 'none', limits: { models: [] } });
    await api('POST', '/v1/economy/compute/scout/freeze', { frozen: false }, 'admin-1');
    expect((await api('GET', '/v1/agents/scout')).body.economy).toMatchObject({ tier: 'tier1', frozen: false });
    expect((await store.audit.list({ resource: 'agent/scout', limit: 10 })).map((e) => [e.actor, e.action])).toEqual([
      ['admin-1', 'compute.unfreeze'],
      ['admin-1', 'compute.freeze'],
    ]);
  });

  it('an agent reads its own tier over the bus and buys a period with its own money', async () => {
    const rpc = opCaller((r) => mountEconomyOps(r, ctx.economy.compute));
    const before = (await rpc(agentCaller('scout'), 'economy.status', {})) as { balance: number };
    expect(before).toMatchObject({ agent: 'scout', tier: 'tier1', basis: 'balance' });
    const bought = await rpc(agentCaller('scout'), 'economy.purchase', { tier: 'tier2', hours: 2, idempotencyKey: 'scout-buy-1' });
    expect(bought).toMatchObject({ applied: true, txn: { from: 'agent:scout', to: 'fees', amount: 1_000, reason: 'purchase_compute' }, entitlements: { tier: 'tier2', basis: 'purchase' } });
    expect(await rpc(agentCaller('scout'), 'economy.status', {})).toMatchObject({ tier: 'tier2', balance: before.balance - 1_000 });
    // The payload cannot name another agent to pay for: unknown fields are refused.
    await expect(rpc(agentCaller('scout'), 'economy.purchase', { tier: 'tier2', hours: 1, idempotencyKey: 'k', agent: 'echo' })).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(rpc(agentCaller('scout'), 'economy.status', { agent: 'echo' })).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('every route carries a scope for the auth layer', () => {
    const mine = routes.filter((r) => /\/v1\/(economy|board|payments)/.test(r.url));
    expect(mine.length).toBeGreaterThanOrEqual(15);
    for (const r of mine) expect(r.scope, r.url).toMatch(/^(admin|human|public|economy:read|board:read|board:write)$/);
  });
});

describe('aiflock economy', () => {
  it('balance, ledger and tiers read the same numbers, in text and --json', async () => {
    const bal = await cli(['economy', 'balance', 'echo', '--json']);
    expect(bal.code).toBe(0);
    expect(JSON.parse(bal.stdout)).toMatchObject({ agent: 'echo', balance: 18_500, entitlements: { tier: 'tier2' } });
    expect((await cli(['economy', 'balance', 'echo'])).stdout).toContain('echo: 185.00 aiDollars, tier tier2');
    const ledger = JSON.parse((await cli(['economy', 'ledger', 'echo', '--json', '-n', '2'])).stdout) as { transactions: { amount: number; reason: string }[]; next: string };
    expect(ledger.transactions.map((t) => [t.reason, t.amount])).toEqual([
      ['reward', 18_000],
      ['penalty', -11_500],
    ]);
    const rest = JSON.parse((await cli(['economy', 'ledger', 'echo', '--json', '--cursor', ledger.next])).stdout) as { transactions: { amount: number }[] };
    expect(rest.transactions.map((t) => t.amount)).toEqual([12_000]);
    expect((await cli(['economy', 'tiers'])).stdout).toMatch(/tier2 .*models small,default,fast,embed,medium,coder,large/);
  });

  it('credit, reward and penalize through the CLI; bad amounts are usage errors', async () => {
    const credit = await cli(['economy', 'credit', 'scout', '12.50', '--payment', 'PAY-CLI-1']);
    expect(credit.stdout).toContain('credited scout 12.50 aiDollars for payment PAY-CLI-1');
    expect((await cli(['economy', 'credit', 'scout', '12.50', '--payment', 'PAY-CLI-1'])).stdout).toContain('already credited');
    expect((await cli(['economy', 'credit', 'scout', '12.505', '--payment', 'PAY-CLI-2'])).code).toBe(2);
    const posts = (await api('GET', `/v1/board/posts?author=${encodeURIComponent('agent:scout')}`, undefined, 'ann')).body.posts as PostRecord[];
    const reward = await cli(['economy', 'reward', 'scout', '1', '--post', posts[0]!.id, '--key', 'cli-r1', '--json']);
    expect(JSON.parse(reward.stdout)).toMatchObject({ applied: true, txn: { amount: 100, reason: 'reward' } });
    const pen = await cli(['economy', 'penalize', 'scout', '0.50', '--post', posts[0]!.id]);
    expect(pen.stdout).toMatch(/penalized scout 0.50 aiDollars .* balance 41.00/);
    expect((await cli(['economy', 'reward', 'scout', '1', '--post', 'nope'])).code).toBe(2);
  });
});
