import { LlmClient } from '@aiflock/agent';
import { AuditLog, systemClock, type LlmUsageEvent, type PostRecord } from '@aiflock/core';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import { ConfigSchema } from '../../src/config.js';
import { economyServices } from '../../src/economy.js';
import { aiDollarsToCents, chargeUsageToLedger } from '../../src/llm/economy-bridge.js';
import type { ApiContext } from '../../src/http/context.js';
import { llmRefusal as refusal, startGatewayOverBus, type GatewayOverBus } from './gateway-over-bus.js';

/**
 * The gateway enforces the economy: an agent's LLM entitlement is its compute tier, read
 * from its ledger balance on every call, and what it uses is charged to its account. Real
 * nats-server, the daemon's bus and RPC router, a real SQLite ledger with its audit log, the
 * agent SDK's client, and a provider speaking Ollama's wire protocol.
 */
let h: GatewayOverBus;
let ol: GatewayOverBus['ol'];
let llm: GatewayOverBus['llm'];
let store: GatewayOverBus['store'];
let agentNc: NatsConnection;
let economy: ApiContext['economy'];
let charges: ReturnType<typeof chargeUsageToLedger>;
const usage: LlmUsageEvent[] = [];
let post: PostRecord;

const tier = (name: string, minBalance: number, models: string[], requestsPerMinute: number, concurrentCalls: number) => ({
  name,
  minBalance,
  models,
  requestsPerMinute,
  tokensPerHour: 1_000_000,
  concurrentCalls,
  concurrentToolRuns: 1,
  pricePerHour: 0,
});

beforeAll(async () => {
  h = await startGatewayOverBus({
    name: 'economy-gateway',
    instances: [['scout-1', 'scout']],
    tiers: (store, dir) => {
      const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock: systemClock });
      const config = ConfigSchema.parse({ dataDir: dir, economy: { tiers: [tier('tier0', 0, ['small'], 3, 1), tier('tier1', 1_000, ['small', 'large'], 100, 3)] } });
      economy = economyServices(config.economy, store, audit, systemClock);
      return economy.compute;
    },
    llm: (ol) => ({
      providers: { ollama: { url: ol.url } },
      // 100 tokens in and 50 out: small costs 0.20 aiDollars, large 2.00.
      models: { small: { provider: 'ollama', model: 'tiny', pricePer1kIn: 1, pricePer1kOut: 2 }, large: { provider: 'ollama', model: 'huge', pricePer1kIn: 10, pricePer1kOut: 20 } },
      // Config entitlements are for HTTP tokens; agents must not get these.
      entitlements: { default: { models: ['small', 'large'] } },
      policy: { attemptsPerProvider: 1 },
    }),
    correlationPrefix: 'econ-corr',
  });
  ({ ol, llm, store } = h);
  ol.setDefault({ kind: 'reply', text: 'ok', usage: { in: 100, out: 50 } });
  llm.usage.subscribe((e) => usage.push(e));
  charges = chargeUsageToLedger(llm.usage, economy.compute, () => undefined);
  agentNc = await h.connect({ name: 'agent-under-test' });
  post = await economy.board.createPost({ kind: 'agent', name: 'scout' }, { title: 'I summarise papers', body: 'ask me', tags: [], audience: 'public' });
});

afterAll(async () => {
  charges?.stop();
  await h?.close();
});

const scout = () => new LlmClient(agentNc, 'scout-1');

const usageTxns = () => store.ledger.list({ from: 'agent:scout', reason: 'llm_usage', limit: 100 });

describe('the gateway enforces compute tiers', () => {
  it('a tier0 agent is refused the large model, with its tier and what the model needs', async () => {
    const before = ol.requests.length;
    const e = await refusal(scout().chat({ model: 'large', prompt: 'think hard' }));
    expect(e.code).toBe('model_not_entitled');
    expect(e.message).toContain('tier0');
    expect(e.message).toContain('model large needs tier1');
    expect(e.details).toMatchObject({ agent: 'scout', tier: 'tier0', model: 'large', needs: 'tier1' });
    expect(ol.requests.length).toBe(before);
  });

  it('a reward lifts the agent to tier1 and its next call may use the large model; the call is charged to its account', async () => {
    await economy.rewards.apply({ kind: 'reward', person: 'ann', agent: 'scout', amount: 1_500, postId: post.id, idempotencyKey: 'r-1' });
    expect(await economy.compute.entitlementsFor('scout')).toMatchObject({ tier: 'tier1', balance: 1_500 });
    const r = await scout().chat({ model: 'large', prompt: 'think hard' });
    expect(r).toMatchObject({ text: 'ok', model: 'large', costAiDollars: 2 });
    expect(ol.requests.at(-1)!.body.model).toBe('huge');

    await charges.flush();
    const txns = await usageTxns();
    expect(txns).toHaveLength(1);
    expect(txns[0]).toMatchObject({ amount: 200, to: 'fees', correlationId: r.correlationId, meta: { model: 'large', provider: 'ollama', tokensIn: 100, tokensOut: 50, cost: 200 } });
    expect(await store.ledger.balance('agent:scout')).toBe(1_300);
    // Like every ledger entry, the charge is in the hash-chained audit log.
    expect(await store.audit.list({ action: 'ledger.llm_usage', limit: 10 })).toEqual([expect.objectContaining({ resource: `ledger/${txns[0]!.id}`, outcome: 'ok' })]);

    // The same usage reported again (a replayed event) is one charge.
    llm.usage.publish(usage.find((u) => u.correlationId === r.correlationId)!);
    await charges.flush();
    expect(await usageTxns()).toHaveLength(1);
    expect(await store.ledger.balance('agent:scout')).toBe(1_300);
  });

  it('a penalty drops it to tier0: the large model is refused again and tier0’s request rate holds, with a quota error over the bus', async () => {
    await economy.rewards.apply({ kind: 'penalty', person: 'bob', agent: 'scout', amount: 1_000, postId: post.id, idempotencyKey: 'p-1' });
    expect(await economy.compute.entitlementsFor('scout')).toMatchObject({ tier: 'tier0', balance: 300 });
    expect((await refusal(scout().chat({ model: 'large', prompt: 'again' }))).details).toMatchObject({ tier: 'tier0', needs: 'tier1' });

    // tier0 allows 3 requests a minute; the large call above already used one.
    const used = llm.gateway!.limiter.usage('scout').requestsLastMinute;
    expect(used).toBe(1);
    for (let i = used; i < 3; i++) await scout().chat({ model: 'small', prompt: `small ${i}` });
    const e = await refusal(scout().chat({ model: 'small', prompt: 'one too many' }));
    expect(e.code).toBe('quota_exceeded');
    expect(e.message).toContain('agent scout on tier0');
    expect(e.details).toMatchObject({ limit: 'requests_per_minute', retryAfterMs: expect.any(Number) });
    expect((e.details as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);

    // Both small calls were charged at the small model's price (0.20 each).
    await charges.flush();
    expect((await usageTxns()).map((t) => t.amount)).toEqual([20, 20, 200]);
    expect(await store.ledger.balance('agent:scout')).toBe(260);
  });

  it('concurrent calls never exceed the tier’s concurrent limit', async () => {
    await economy.payments.credit({ agent: 'scout', amount: 5_000, paymentTxnId: 'PAY-econ-1', via: 'manual', actor: 'admin' });
    expect(await economy.compute.entitlementsFor('scout')).toMatchObject({ tier: 'tier1', limits: { concurrentCalls: 3 } });
    ol.setDefault({ kind: 'hang' });
    const before = ol.requests.length;
    const aborts = Array.from({ length: 20 }, () => new AbortController());
    const calls = aborts.map((a, i) => llm.gateway!.chat({ model: 'small', messages: [{ role: 'user', content: `c${i}` }], signal: a.signal }, { id: 'scout', agent: 'scout', instanceId: 'scout-1' }));
    const outcomes = calls.map((p) =>
      p.then(
        () => 'ok',
        (err: { code?: string; details?: { limit?: string } }) => `${err.code}:${err.details?.limit ?? ''}`,
      ),
    );
    // The refusals come back at once; the admitted calls hang at the provider.
    let refused: string[] = [];
    while (refused.length < 17) {
      refused = (await Promise.all(outcomes.map((o) => Promise.race([o, new Promise<null>((r) => setImmediate(() => r(null)))])))).filter((x): x is string => x !== null);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).toEqual(Array(17).fill('quota_exceeded:concurrent'));
    expect(llm.gateway!.limiter.usage('scout').inFlight).toBe(3);
    while (ol.requests.length < before + 3) await new Promise((r) => setTimeout(r, 10));
    expect(ol.requests.length).toBe(before + 3);
    for (const a of aborts) a.abort();
    const all = await Promise.all(outcomes);
    expect(all.filter((o) => o === 'ok')).toHaveLength(0);
    expect(all.filter((o) => o.startsWith('llm_cancelled'))).toHaveLength(3);
    expect(llm.gateway!.limiter.usage('scout').inFlight).toBe(0);
    ol.setDefault({ kind: 'reply', text: 'ok', usage: { in: 100, out: 50 } });
  });

  it('a frozen agent’s calls are refused, saying an admin froze its compute; unfreezing restores them', async () => {
    await economy.compute.setFrozen({ agent: 'scout', frozen: true, note: 'looping', actor: 'admin' });
    const before = ol.requests.length;
    const e = await refusal(scout().chat({ model: 'small', prompt: 'x' }));
    expect(e.code).toBe('model_not_entitled');
    expect(e.message).toContain('frozen by an admin');
    expect(ol.requests.length).toBe(before);
    expect((await llm.gateway!.models({ id: 'scout', agent: 'scout' })).map((m) => m.name)).toEqual([]);
    await economy.compute.setFrozen({ agent: 'scout', frozen: false, actor: 'admin' });
    expect((await scout().chat({ model: 'large', prompt: 'x' })).text).toBe('ok');
  });

  it('skips the caller’s fallbacks its tier does not include instead of refusing the call', async () => {
    await economy.rewards.apply({ kind: 'penalty', person: 'bob', agent: 'scout', amount: (await store.ledger.balance('agent:scout')) - 100, postId: post.id, idempotencyKey: 'p-2' });
    expect(await economy.compute.entitlementsFor('scout')).toMatchObject({ tier: 'tier0' });
    ol.next({ kind: 'error', status: 500, message: 'small is down' });
    // A caller id of its own: scout's tier0 minute is used up by the tests above.
    const e = await llm.gateway!.chat({ model: 'small', fallbacks: ['large'], messages: [{ role: 'user', content: 'x' }] }, { id: 'scout-fb', agent: 'scout' }).catch((err: unknown) => err);
    // The small model was tried and failed; large was never called, because tier0 excludes it.
    expect(e).toMatchObject({ code: 'upstream_failed' });
    expect(ol.requests.at(-1)!.body.model).toBe('tiny');
  });

  it('HTTP token callers keep the entitlements from config and have no account to charge', async () => {
    const r = await llm.gateway!.chat({ model: 'large', messages: [{ role: 'user', content: 'x' }] }, { id: 'tok_0123456789abcdef' });
    expect(r.costAiDollars).toBe(2);
    await charges.flush();
    expect(await store.ledger.list({ reason: 'llm_usage', limit: 100 })).toHaveLength((await usageTxns()).length);
  });

  it('prices to whole cents, rounding up so a priced call is never free', () => {
    expect(aiDollarsToCents(0)).toBe(0);
    expect(aiDollarsToCents(0.000001)).toBe(1);
    expect(aiDollarsToCents(0.07)).toBe(7);
    expect(aiDollarsToCents(2)).toBe(200);
    expect(aiDollarsToCents(0.010001)).toBe(2);
    // The gateway prices to a millionth; anything finer is not money.
    expect(aiDollarsToCents(0.0100001)).toBe(1);
  });
});
