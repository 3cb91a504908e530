import { FlockError, LlmGateway, ModelRegistry, systemClock, type Clock, type Entitlement, type GatewayChunk, type GatewayPolicy, type LlmProvider, type LlmUsageEvent, type RegistryEntry } from '@aiflock/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { AnthropicProvider } from '../../src/adapters/llm/anthropic.js';
import { OllamaProvider } from '../../src/adapters/llm/ollama.js';
import { OpenAiProvider } from '../../src/adapters/llm/openai.js';

const servers: FakeLlmServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});
async function fake(wire: 'openai' | 'ollama' | 'anthropic') {
  const s = await startFakeLlm(wire);
  servers.push(s);
  return s;
}

const route = (name: string, provider: string, fallbacks: string[] = [], caps: RegistryEntry['capabilities'] = ['chat', 'tools', 'stream', 'embed']): RegistryEntry => ({
  name,
  provider,
  model: `${provider}-model`,
  capabilities: caps,
  contextWindow: 8192,
  pricePer1kIn: 0.5,
  pricePer1kOut: 1.5,
  fallbacks,
});

interface Harness {
  gw: LlmGateway;
  usage: LlmUsageEvent[];
  sleeps: number[];
  fallbacks: string[];
  breaker: string[];
}

function gateway(providers: LlmProvider[], entries: RegistryEntry[], opts: { policy?: Partial<GatewayPolicy>; clock?: Clock & { advance?(ms: number): void }; entitlement?: Entitlement } = {}): Harness {
  const h = { usage: [] as LlmUsageEvent[], sleeps: [] as number[], fallbacks: [] as string[], breaker: [] as string[] } as Harness;
  const clock: Clock & { advance?(ms: number): void } = opts.clock ?? systemClock;
  let id = 0;
  h.gw = new LlmGateway({
    providers,
    registry: new ModelRegistry(entries),
    policy: { attemptsPerProvider: 2, backoff: { baseMs: 10, maxMs: 100 }, deadlineMs: 10_000, attemptTimeoutMs: 5_000, breaker: { failureThreshold: 3, cooldownMs: 30_000 }, defaultMaxTokens: 100, ...opts.policy },
    entitlementFor: () => opts.entitlement ?? {},
    clock,
    // Waiting is observed, and moves a manual clock instead of the wall clock.
    sleep: async (ms) => {
      h.sleeps.push(ms);
      if (clock.advance) clock.advance(ms);
    },
    random: () => 0.5,
    newId: () => `corr-${++id}`,
    observer: { usage: (e) => h.usage.push(e), fallback: (p, k) => h.fallbacks.push(`${p}:${k}`), breaker: (p, s) => h.breaker.push(`${p}:${s}`) },
  });
  return h;
}

const caller = { id: 'scout', agent: 'scout', instanceId: 'scout-1' };
const ask = (model = 'default') => ({ model, messages: [{ role: 'user' as const, content: 'hello there' }] });

async function collect(it: AsyncIterable<GatewayChunk>) {
  const out: GatewayChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

async function flockError(p: Promise<unknown>): Promise<FlockError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlockError);
  return err as FlockError;
}

describe('gateway routing over real wire protocols', () => {
  it('answers from the first route and emits a priced usage event', async () => {
    const ol = await fake('ollama');
    ol.next({ kind: 'reply', text: 'hi', usage: { in: 1000, out: 2000 } });
    const h = gateway([new OllamaProvider('local', ol.url)], [route('default', 'local')]);
    const r = await h.gw.chat(ask(), caller);
    expect(r).toMatchObject({ content: 'hi', provider: 'local', correlationId: 'corr-1', costAiDollars: 3.5, fallbackUsed: false });
    expect(h.usage).toEqual([expect.objectContaining({ correlationId: 'corr-1', caller: 'scout', agent: 'scout', instanceId: 'scout-1', model: 'default', provider: 'local', providerModel: 'local-model', tokensIn: 1000, tokensOut: 2000, costAiDollars: 3.5, outcome: 'ok', fallbackUsed: false, attempts: 1 })]);
  });

  it('falls back when the local provider is down', async () => {
    const down = await startFakeLlm('ollama');
    await down.close();
    const oa = await fake('openai');
    oa.next({ kind: 'reply', text: 'from the cloud' });
    const h = gateway([new OllamaProvider('local', down.url), new OpenAiProvider('cloud', oa.url, 'sk')], [route('default', 'local', ['backup']), route('backup', 'cloud')]);
    const r = await h.gw.chat(ask(), caller);
    expect(r).toMatchObject({ content: 'from the cloud', provider: 'cloud', fallbackUsed: true });
    expect(h.fallbacks).toEqual(['local:upstream', 'local:upstream']);
    expect(h.usage.at(-1)).toMatchObject({ provider: 'cloud', fallbackUsed: true, attempts: 3 });
  });

  it('honours Retry-After on a 429 before retrying the same provider', async () => {
    const oa = await fake('openai');
    oa.next({ kind: 'error', status: 429, message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded', retryAfter: '2' }, { kind: 'reply', text: 'ok now' });
    let t = 0;
    const clock = { now: () => new Date(t), advance: (ms: number) => (t += ms) };
    const h = gateway([new OpenAiProvider('cloud', oa.url)], [route('default', 'cloud')], { clock });
    const r = await h.gw.chat(ask(), caller);
    expect(r.content).toBe('ok now');
    expect(h.sleeps).toEqual([2000]);
    expect(oa.requests).toHaveLength(2);
  });

  it('does not wait for a Retry-After past the deadline: moves on to the next provider', async () => {
    const oa = await fake('openai');
    const an = await fake('anthropic');
    oa.next({ kind: 'error', status: 429, message: 'slow down', retryAfter: '60' });
    an.next({ kind: 'reply', text: 'anthropic here' });
    let t = 0;
    const clock = { now: () => new Date(t), advance: (ms: number) => (t += ms) };
    const h = gateway([new OpenAiProvider('oa', oa.url), new AnthropicProvider('an', an.url, 'k')], [route('default', 'oa', ['b']), route('b', 'an')], { clock, policy: { deadlineMs: 5_000 } });
    const r = await h.gw.chat(ask(), caller);
    expect(r).toMatchObject({ provider: 'an', content: 'anthropic here' });
    expect(h.sleeps).toEqual([]);
  });

  it('gives up at the overall deadline with a timeout naming the provider and correlation id', async () => {
    const oa = await fake('openai');
    oa.setDefault({ kind: 'hang' });
    const h = gateway([new OpenAiProvider('slow', oa.url)], [route('default', 'slow')], { policy: { deadlineMs: 300, attemptTimeoutMs: 200 } });
    const e = await flockError(h.gw.chat(ask(), caller));
    expect(e.code).toBe('upstream_timeout');
    expect(e.details).toMatchObject({ provider: 'slow', kind: 'timeout', correlationId: 'corr-1' });
    expect(h.usage.at(-1)).toMatchObject({ outcome: 'timeout', provider: 'slow', costAiDollars: 0 });
  });

  it('skips a slow provider after its attempt timeout and answers from the next', async () => {
    const slow = await fake('openai');
    slow.setDefault({ kind: 'hang' });
    const ol = await fake('ollama');
    ol.next({ kind: 'reply', text: 'fast answer' });
    const h = gateway([new OpenAiProvider('slow', slow.url), new OllamaProvider('fast', ol.url)], [route('default', 'slow', ['f']), route('f', 'fast')], { policy: { attemptTimeoutMs: 150, attemptsPerProvider: 1 } });
    expect(await h.gw.chat(ask(), caller)).toMatchObject({ provider: 'fast', content: 'fast answer' });
  });

  it('fails over on a malformed answer', async () => {
    const oa = await fake('openai');
    oa.setDefault({ kind: 'malformed' });
    const ol = await fake('ollama');
    ol.next({ kind: 'reply', text: 'clean' });
    const h = gateway([new OpenAiProvider('bad', oa.url), new OllamaProvider('good', ol.url)], [route('default', 'bad', ['g']), route('g', 'good')]);
    expect(await h.gw.chat(ask(), caller)).toMatchObject({ provider: 'good', content: 'clean' });
  });

  it('does not fail over what another provider cannot cure (content policy): a clear error at once', async () => {
    const oa = await fake('openai');
    const ol = await fake('ollama');
    oa.next({ kind: 'error', status: 400, message: 'Your request was rejected by our content_policy', code: 'content_policy_violation' });
    const h = gateway([new OpenAiProvider('oa', oa.url), new OllamaProvider('ol', ol.url)], [route('default', 'oa', ['b']), route('b', 'ol')]);
    const e = await flockError(h.gw.chat(ask(), caller));
    expect(e.code).toBe('llm_content_policy');
    expect(e.status).toBe(422);
    expect(e.details).toMatchObject({ provider: 'oa', correlationId: 'corr-1', providerStatus: 400 });
    expect(ol.requests).toHaveLength(0);
  });

  describe('streaming', () => {
    it('fails over when the stream breaks before the first token', async () => {
      const oa = await fake('openai');
      const an = await fake('anthropic');
      oa.setDefault({ kind: 'midstream', text: 'never seen', afterChunks: 0, how: 'disconnect' });
      an.next({ kind: 'reply', text: 'second provider streams' });
      const h = gateway([new OpenAiProvider('oa', oa.url), new AnthropicProvider('an', an.url)], [route('default', 'oa', ['b']), route('b', 'an')], { policy: { attemptsPerProvider: 1 } });
      const chunks = await collect(h.gw.chatStream(ask(), caller));
      expect(chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('')).toBe('second provider streams');
      expect(chunks.at(-1)).toMatchObject({ type: 'done', provider: 'an', fallbackUsed: true });
    });

    it('ends the stream with a clear error when it breaks after the first token, without switching provider', async () => {
      for (const how of ['disconnect', 'error_event'] as const) {
        const ol = await fake('ollama');
        const oa = await fake('openai');
        ol.next({ kind: 'midstream', text: 'partial answer that breaks', afterChunks: 2, how });
        const h = gateway([new OllamaProvider('ol', ol.url), new OpenAiProvider('oa', oa.url)], [route('default', 'ol', ['b']), route('b', 'oa')]);
        const seen: GatewayChunk[] = [];
        const err = await (async () => {
          for await (const c of h.gw.chatStream(ask(), caller)) seen.push(c);
        })().catch((e: unknown) => e);
        expect(seen.map((c) => (c.type === 'delta' ? c.text : '')).join('')).toBe('partial answer');
        expect(err).toBeInstanceOf(FlockError);
        expect(err).toMatchObject({ code: 'upstream_failed', details: { provider: 'ol', correlationId: 'corr-1' } });
        expect((err as Error).message).toMatch(/mid-stream after the first token/);
        expect(oa.requests).toHaveLength(0);
        expect(h.usage.at(-1)).toMatchObject({ outcome: 'interrupted', provider: 'ol', tokensIn: 3, tokensOut: Math.ceil('partial answer'.length / 4) });
        expect(h.usage).toHaveLength(1);
      }
    });

    it('streams Ollama tool calls through the gateway', async () => {
      const ol = await fake('ollama');
      ol.next({ kind: 'reply', text: '', toolCalls: [{ id: 'x', name: 'move', arguments: { x: 3, y: 4 } }] });
      const h = gateway([new OllamaProvider('ol', ol.url)], [route('default', 'ol')]);
      const chunks = await collect(h.gw.chatStream({ ...ask(), tools: [{ name: 'move', parameters: { type: 'object' } }] }, caller));
      expect(chunks.find((c) => c.type === 'tool_call')).toMatchObject({ call: { name: 'move', arguments: { x: 3, y: 4 } } });
      expect(chunks.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    });
  });

  it('opens the breaker after repeated failures, stops calling the provider, and probes after the cool-down', async () => {
    const oa = await fake('openai');
    const ol = await fake('ollama');
    oa.setDefault({ kind: 'error', status: 500, message: 'down' });
    let t = 0;
    const clock = { now: () => new Date(t), advance: (ms: number) => (t += ms) };
    const h = gateway([new OpenAiProvider('flaky', oa.url), new OllamaProvider('steady', ol.url)], [route('default', 'flaky', ['s']), route('s', 'steady')], { clock, policy: { attemptsPerProvider: 1, breaker: { failureThreshold: 3, cooldownMs: 10_000 } } });
    for (let i = 0; i < 3; i++) expect((await h.gw.chat(ask(), caller)).provider).toBe('steady');
    expect(oa.requests).toHaveLength(3);
    expect(h.gw.breakerStates()).toEqual({ flaky: 'open', steady: 'closed' });
    for (let i = 0; i < 5; i++) expect((await h.gw.chat(ask(), caller)).provider).toBe('steady');
    expect(oa.requests).toHaveLength(3); // open: not called at all
    clock.advance(10_000);
    oa.setDefault({ kind: 'reply', text: 'recovered' });
    expect(await h.gw.chat(ask(), caller)).toMatchObject({ provider: 'flaky', content: 'recovered' });
    expect(h.gw.breakerStates()['flaky']).toBe('closed');
    expect(h.breaker).toEqual(['flaky:open', 'flaky:half_open', 'flaky:closed']);
  });

  it('opens the breaker on repeated 429s too', async () => {
    const oa = await fake('openai');
    oa.setDefault({ kind: 'error', status: 429, message: 'busy' });
    const h = gateway([new OpenAiProvider('busy', oa.url)], [route('default', 'busy')], { policy: { attemptsPerProvider: 1 } });
    for (let i = 0; i < 3; i++) expect((await flockError(h.gw.chat(ask(), caller))).code).toBe('llm_rate_limited');
    const e = await flockError(h.gw.chat(ask(), caller));
    expect(e.message).toMatch(/circuit open for busy/);
    expect(oa.requests).toHaveLength(3);
  });

  it('per-request policy override picks local or cloud providers', async () => {
    const ol = await fake('ollama');
    const oa = await fake('openai');
    const h = gateway([new OllamaProvider('ol', ol.url), new OpenAiProvider('oa', oa.url)], [route('default', 'ol', ['c']), route('c', 'oa')]);
    expect((await h.gw.chat({ ...ask(), policy: ['cloud'] }, caller)).provider).toBe('oa');
    expect((await h.gw.chat({ ...ask(), policy: ['local'] }, caller)).provider).toBe('ol');
    expect((await flockError(h.gw.chat({ ...ask(), policy: ['mars'] }, caller))).message).toMatch(/unknown provider "mars"/);
  });

  it('embeds through the registry', async () => {
    const ol = await fake('ollama');
    const h = gateway([new OllamaProvider('ol', ol.url)], [route('embed', 'ol', [], ['embed'])]);
    const r = await h.gw.embed({ model: 'embed', input: ['a', 'b', 'c'] }, caller);
    expect(r.embeddings).toHaveLength(3);
    expect(r.provider).toBe('ol');
    await expect(h.gw.chat(ask('embed'), caller)).rejects.toMatchObject({ code: 'llm_capability_unsupported', status: 400 });
  });

  it('refuses a request the model cannot serve as the caller\'s mistake (400), naming the models that can', async () => {
    const oa = await fake('openai');
    const h = gateway([new OpenAiProvider('oa', oa.url), new OllamaProvider('ol', oa.url)], [route('default', 'oa', [], ['chat', 'stream']), route('smart', 'oa', [], ['chat', 'tools', 'json']), route('embed', 'oa', [], ['embed'])]);
    const tools = await flockError(h.gw.chat({ ...ask(), tools: [{ name: 'look', parameters: { type: 'object' } }] }, caller));
    expect(tools).toMatchObject({ code: 'llm_capability_unsupported', status: 400, details: { missing: ['tools'], capable: ['smart'] } });
    expect(tools.message).toMatch(/model "default" cannot do tools \(it offers chat, stream\); models that can: smart/);
    const json = await flockError(h.gw.chat({ ...ask(), format: 'json' }, caller));
    expect(json).toMatchObject({ code: 'llm_capability_unsupported', details: { missing: ['json'] } });
    expect((await flockError(h.gw.embed({ model: 'default', input: ['x'] }, caller))).details).toMatchObject({ missing: ['embed'], capable: ['embed'] });
    // Nothing reached the provider: the refusal comes before any attempt.
    expect(oa.requests).toHaveLength(0);
    // A capable model that the policy leaves without a provider is still unavailability (503).
    expect(await flockError(h.gw.chat({ ...ask('smart'), format: 'json', policy: ['ol'] }, caller))).toMatchObject({ code: 'llm_unavailable', status: 503 });
  });
});

describe('entitlements under 100 concurrent requests', () => {
  it('never lets more calls run at once than allowed', async () => {
    const oa = await fake('openai');
    oa.setDefault({ kind: 'reply', text: 'a b c d e', chunkDelayMs: 5 });
    const h = gateway([new OpenAiProvider('oa', oa.url)], [route('default', 'oa')], { entitlement: { concurrent: 4 } });
    let inFlight = 0;
    let peak = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, async () => {
        const stream = h.gw.chatStream(ask(), caller);
        for await (const c of stream) {
          if (c.type === 'delta' && c.text === 'a') peak = Math.max(peak, ++inFlight);
          if (c.type === 'done') inFlight--;
        }
      }),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected');
    expect(ok).toBeGreaterThanOrEqual(4);
    expect(peak).toBeLessThanOrEqual(4);
    expect(oa.requests.length).toBe(ok);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'quota_exceeded', details: { limit: 'concurrent' } });
    expect(h.gw.limiter.usage('scout').inFlight).toBe(0);
  });

  it('allows exactly the requests/min entitlement and refuses the rest with a retry hint', async () => {
    const ol = await fake('ollama');
    const h = gateway([new OllamaProvider('ol', ol.url)], [route('default', 'ol')], { entitlement: { requestsPerMinute: 30 } });
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => h.gw.chat(ask(), caller)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(30);
    expect(ol.requests).toHaveLength(30);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(70);
    for (const r of refused) {
      expect(r.reason).toMatchObject({ code: 'quota_exceeded', status: 429 });
      expect((r.reason as FlockError & { details: { retryAfterMs: number } }).details.retryAfterMs).toBeGreaterThan(0);
    }
  });

  it('holds tokens/hour by reserving before the call and settling after', async () => {
    const ol = await fake('ollama');
    ol.setDefault({ kind: 'reply', text: 'x', usage: { in: 40, out: 10 } });
    // Each call reserves ~3 prompt tokens + maxTokens 47 = 50; settles at 50 real tokens.
    const h = gateway([new OllamaProvider('ol', ol.url)], [route('default', 'ol')], { entitlement: { tokensPerHour: 1000 } });
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => h.gw.chat({ ...ask(), maxTokens: 47 }, caller)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
    expect(h.gw.limiter.usage('scout').tokensLastHour).toBe(1000);
  });

  it('refuses a model outside the entitlement before any provider is called', async () => {
    const ol = await fake('ollama');
    const h = gateway([new OllamaProvider('ol', ol.url)], [route('default', 'ol'), route('coder', 'ol')], { entitlement: { models: ['default'] } });
    const e = await flockError(h.gw.chat(ask('coder'), caller));
    expect(e).toMatchObject({ code: 'model_not_entitled', status: 403 });
    expect(ol.requests).toHaveLength(0);
    expect((await h.gw.models(caller)).map((m) => m.name)).toEqual(['default']);
  });
});

describe('context windows', () => {
  it('skips routes too small for the prompt, and refuses clearly when none fits, calling no provider', async () => {
    const small = await fake('ollama');
    const big = await fake('openai');
    big.next({ kind: 'reply', text: 'big window' });
    const h = gateway(
      [new OllamaProvider('small', small.url), new OpenAiProvider('big', big.url)],
      [{ ...route('default', 'small', ['large']), contextWindow: 100 }, { ...route('large', 'big'), contextWindow: 1000 }],
    );
    const prompt = (chars: number) => ({ model: 'default', messages: [{ role: 'user' as const, content: 'x'.repeat(chars) }] });
    expect(await h.gw.chat(prompt(2000), caller)).toMatchObject({ provider: 'big', content: 'big window' });
    const e = await flockError(h.gw.chat(prompt(8000), caller));
    expect(e).toMatchObject({ code: 'llm_context_length', status: 400, details: { estimatedTokens: 2000, largestContextWindow: 1000 } });
    expect(small.requests).toHaveLength(0);
    expect(big.requests).toHaveLength(1);
  });
});

describe('cancellation', () => {
  it('charges a reader that stops early for what it received, once', async () => {
    const oa = await fake('openai');
    oa.next({ kind: 'reply', text: 'alpha beta gamma delta epsilon', chunkDelayMs: 20 });
    const h = gateway([new OpenAiProvider('oa', oa.url)], [route('default', 'oa')]);
    for await (const c of h.gw.chatStream(ask(), caller)) if (c.type === 'delta') break;
    expect(h.usage).toEqual([expect.objectContaining({ outcome: 'cancelled', tokensIn: 3, tokensOut: 2 })]);
    expect(h.gw.limiter.usage('scout')).toMatchObject({ inFlight: 0, tokensLastHour: 5 });
  });

  it('stops the provider call when the caller cancels mid-stream: no retry, no failover, breaker untouched', async () => {
    const slow = await fake('openai');
    const other = await fake('ollama');
    slow.next({ kind: 'reply', text: 'one two three four five six seven eight nine ten', chunkDelayMs: 40 });
    const h = gateway([new OpenAiProvider('slow', slow.url), new OllamaProvider('other', other.url)], [route('default', 'slow', ['o']), route('o', 'other')]);
    const ac = new AbortController();
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of h.gw.chatStream({ ...ask(), signal: ac.signal }, caller)) {
        if (c.type === 'delta') seen.push(c.text);
        if (seen.length === 2) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'llm_cancelled', status: 499 });
    expect(seen.length).toBeLessThan(10);
    expect(other.requests).toHaveLength(0);
    expect(h.gw.breakerStates()).toEqual({ slow: 'closed', other: 'closed' });
    // What was delivered is charged: prompt estimate plus the streamed text, about 4 chars a token.
    const delivered = { tokensIn: 3, tokensOut: Math.ceil(seen.join('').length / 4) };
    expect(h.usage.filter((u) => u.outcome === 'cancelled')).toEqual([expect.objectContaining({ provider: 'slow', ...delivered })]);
    expect(h.usage.at(-1)!.costAiDollars).toBeGreaterThan(0);
    expect(h.gw.limiter.usage('scout')).toMatchObject({ inFlight: 0, tokensLastHour: delivered.tokensIn + delivered.tokensOut });
    await expect.poll(() => slow.requests[0]!.aborted).toBe(true);
  });
});
