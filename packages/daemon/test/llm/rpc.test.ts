import { LlmClient, LlmError } from '@aiflock/agent';
import { parseManifest, type LlmUsageEvent } from '@aiflock/core';
import { RpcReply, subjects } from '@aiflock/protocol';
import { createInbox, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llmRefusal as llmError, startGatewayOverBus, type GatewayOverBus } from './gateway-over-bus.js';

/**
 * Agents' LLM calls over the real bus: a real nats-server, the daemon's NatsBus and RPC
 * router, the gateway with a local Ollama-wire provider, and the agent SDK's client on its
 * own connection.
 */
const codec = JSONCodec();
let h: GatewayOverBus;
let ol: GatewayOverBus['ol'];
let router: GatewayOverBus['router'];
let llm: GatewayOverBus['llm'];
let store: GatewayOverBus['store'];
let agentNc: NatsConnection;
const usage: LlmUsageEvent[] = [];

beforeAll(async () => {
  h = await startGatewayOverBus({
    name: 'rpc',
    instances: [
      ['scout-1', 'scout'],
      ['other-1', 'other'],
      ['gone-1', 'scout', 'stopped'],
    ],
    llm: (ol) => ({
      providers: { ollama: { url: ol.url } },
      models: { default: { provider: 'ollama', model: 'm', pricePer1kIn: 0.5, pricePer1kOut: 1.5 }, coder: { provider: 'ollama', model: 'c' } },
      entitlements: { default: { models: ['default'] }, callers: { scout: { models: ['default', 'coder'], requestsPerMinute: 1000 }, other: { requestsPerMinute: 2, models: ['default'] } } },
      policy: { attemptsPerProvider: 1 },
    }),
  });
  ({ ol, router, llm, store } = h);
  llm.usage.subscribe((e) => usage.push(e));
  agentNc = await h.connect({ name: 'agent-under-test' });
});

afterAll(async () => {
  await h?.close();
});

const client = (id = 'scout-1') => new LlmClient(agentNc, id);

describe('llm over the bus (agent.<id>.rpc.llm.*)', () => {
  it('answers a chat, charging the agent the store says owns the instance', async () => {
    ol.next({ kind: 'reply', text: 'bus answer', usage: { in: 5, out: 2 } });
    const r = await client().chat({ prompt: 'hello' });
    expect(r).toMatchObject({ text: 'bus answer', model: 'default', provider: 'ollama', usage: { tokensIn: 5, tokensOut: 2 } });
    expect(usage.at(-1)).toMatchObject({ caller: 'scout', agent: 'scout', instanceId: 'scout-1', correlationId: r.correlationId });
    expect(ol.requests.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'hello' }]);
  });

  it('streams tokens, then the result', async () => {
    ol.next({ kind: 'reply', text: 'one two three four' });
    const s = client().stream({ messages: [{ role: 'user', content: 'count' }] });
    const deltas: string[] = [];
    for await (const c of s) if (c.type === 'delta') deltas.push(c.text);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('one two three four');
    expect((await s.result).text).toBe('one two three four');
  });

  it('ends a stream that breaks after the first token with the gateway error', async () => {
    ol.next({ kind: 'midstream', text: 'a b c d', afterChunks: 1, how: 'error_event' });
    const s = client().stream({ prompt: 'x' });
    const got: string[] = [];
    const err = await (async () => {
      for await (const c of s) if (c.type === 'delta') got.push(c.text);
    })().catch((e: unknown) => e);
    expect(got).toEqual(['a']);
    expect(err).toBeInstanceOf(LlmError);
    expect(err).toMatchObject({ code: 'upstream_failed', details: { provider: 'ollama' } });
    await expect(s.result).rejects.toMatchObject({ code: 'upstream_failed' });
  });

  it('takes identity from the subject only: a payload naming another agent is rejected, nothing runs', async () => {
    const before = ol.requests.length;
    const e = await llmError(client().chat({ prompt: 'x', agent: 'other', instanceId: 'other-1' } as never));
    expect(e.code).toBe('validation_failed');
    expect(e.message).toMatch(/Unrecognized key/i);
    expect(ol.requests.length).toBe(before);
  });

  it('applies the entitlement of the subject instance’s agent', async () => {
    // scout may use coder; other may not, and is held to 2 requests a minute.
    ol.next({ kind: 'reply', text: 'code' });
    expect((await client('scout-1').chat({ model: 'coder', prompt: 'x' })).text).toBe('code');
    expect((await llmError(client('other-1').chat({ model: 'coder', prompt: 'x' }))).code).toBe('model_not_entitled');
    await client('other-1').chat({ prompt: 'x' });
    await client('other-1').chat({ prompt: 'x' });
    const e = await llmError(client('other-1').chat({ prompt: 'x' }));
    expect(e.code).toBe('quota_exceeded');
    expect(e.details).toMatchObject({ limit: 'requests_per_minute', retryAfterMs: expect.any(Number) });
  });

  it('refuses an instance the flock does not know, or one that is stopped', async () => {
    const before = ol.requests.length;
    expect((await llmError(client('ghost-1').chat({ prompt: 'x' }))).code).toBe('rpc_unknown_caller');
    expect((await llmError(client('gone-1').chat({ prompt: 'x' }))).code).toBe('rpc_unknown_caller');
    const s = client('ghost-1').stream({ prompt: 'x' });
    await expect(s[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'rpc_unknown_caller' });
    expect(ol.requests.length).toBe(before);
  });

  it('answers an unknown op, a non-JSON body and a bad payload with error replies', async () => {
    const ask = async (op: string, data: Uint8Array) => RpcReply.parse(codec.decode((await agentNc.request(subjects.rpc('scout-1', 'llm', op), data, { timeout: 5000 })).data));
    expect(await ask('teleport', codec.encode({}))).toMatchObject({ ok: false, error: { code: 'rpc_unknown_op', message: expect.stringMatching(/no RPC op "llm.teleport"; known: stream.cancel, llm.chat, llm.stream, llm.models/) } });
    expect(await ask('chat', new TextEncoder().encode('not json'))).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await ask('chat', codec.encode({ prompt: 'x', messages: [{ role: 'user', content: 'y' }] }))).toMatchObject({ ok: false, error: { code: 'validation_failed', message: expect.stringMatching(/either prompt or messages/) } });
  });

  it('uses the agent manifest model (name, provider, fallbacks) when a request names none', async () => {
    const { manifest, digest } = parseManifest('name: scout\nversion: 1.0.0\nhandlers: [llm]\nmodel: { name: coder, provider: ollama, fallbacks: [default] }\n');
    const now = new Date().toISOString();
    await store.deployments.upsert({ name: 'scout', digest, manifest, replicas: 1, state: 'active', createdAt: now, updatedAt: now });
    ol.next({ kind: 'error', status: 500, message: 'coder crashed' }, { kind: 'reply', text: 'from default' });
    const r = await client('scout-1').chat({ prompt: 'x' });
    expect(r).toMatchObject({ model: 'coder', text: 'from default' });
    expect(ol.requests.slice(-2).map((q) => q.body.model)).toEqual(['c', 'm']);
    // The request's own model wins over the manifest's.
    ol.next({ kind: 'reply', text: 'explicit' });
    expect((await client('scout-1').chat({ model: 'default', prompt: 'x' })).model).toBe('default');
    expect(ol.requests.at(-1)!.body.model).toBe('m');
    await store.deployments.remove('scout');
  });

  it('cancels a stream when the agent aborts: the provider call is dropped and nothing keeps running', async () => {
    ol.next({ kind: 'reply', text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 30 });
    const ac = new AbortController();
    const s = client().stream({ prompt: 'long story' }, { signal: ac.signal });
    const got: string[] = [];
    const err = await (async () => {
      for await (const c of s) {
        if (c.type === 'delta') got.push(c.text);
        if (got.length === 2) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'cancelled' });
    expect(got.length).toBeLessThan(40);
    await expect.poll(() => router.activeStreams()).toBe(0);
    await expect.poll(() => ol.requests.at(-1)!.aborted).toBe(true);
    await expect.poll(() => usage.at(-1)?.outcome).toBe('cancelled');
  });

  it('cancels a chat given a signal that fires', async () => {
    ol.next({ kind: 'reply', text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 30 });
    const ac = new AbortController();
    const pending = client().chat({ prompt: 'long' }, { signal: ac.signal });
    await expect.poll(() => ol.requests.at(-1)!.body.messages?.[0]?.content).toBe('long');
    ac.abort();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    await expect.poll(() => ol.requests.at(-1)!.aborted).toBe(true);
    // With a signal that does not fire, the call completes as usual.
    ol.next({ kind: 'reply', text: 'short' });
    expect((await client().chat({ prompt: 'x' }, { signal: new AbortController().signal })).text).toBe('short');
  });

  it('cancels a stream its reader stopped reading', async () => {
    ol.next({ kind: 'reply', text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 30 });
    for await (const c of client().stream({ prompt: 'long story' })) if (c.type === 'delta') break;
    await expect.poll(() => ol.requests.at(-1)!.aborted).toBe(true);
    await expect.poll(() => router.activeStreams()).toBe(0);
  });

  it('does not let one instance cancel another instance’s stream', async () => {
    ol.next({ kind: 'reply', text: 'a b c d e f g h', chunkDelayMs: 20 });
    // The victim's reply subject, as an attacker who guessed or saw it would name it.
    const inbox = createInbox();
    const sub = agentNc.subscribe(inbox);
    agentNc.publish(subjects.rpc('scout-1', 'llm', 'stream'), codec.encode({ prompt: 'x' }), { reply: inbox });
    const frames: Array<{ type: string; chunk?: { text?: string } }> = [];
    const reading = (async () => {
      for await (const m of sub) {
        const f = codec.decode(m.data) as { type: string; chunk?: { text?: string } };
        frames.push(f);
        if (f.type === 'end') break;
      }
    })();
    await expect.poll(() => frames.length).toBeGreaterThan(0);
    const attempt = RpcReply.parse(codec.decode((await agentNc.request(subjects.rpc('other-1', 'stream', 'cancel'), codec.encode({ inbox }), { timeout: 5000 })).data));
    expect(attempt).toEqual({ ok: true, result: { cancelled: false } });
    await reading;
    // The victim's stream ran to its end, every token delivered.
    expect(frames.at(-1)).toMatchObject({ type: 'end', reply: { ok: true } });
    expect(frames.map((f) => f.chunk?.text ?? '').join('')).toBe('a b c d e f g h');
  });

  it('lists the models the agent may use', async () => {
    expect(await client('scout-1').models()).toEqual(['default', 'coder']);
    expect(await client('other-1').models()).toEqual(['default']);
  });
});

describe('usage rows (migration 0004_llm)', () => {
  it('stores every priced call in order, newest first when listed, cost exact', async () => {
    const { persistUsage } = await import('../../src/llm/usage-store.js');
    const rows = persistUsage(llm.usage, store, () => undefined);
    ol.next({ kind: 'reply', text: 'stored', usage: { in: 1234, out: 567 } });
    const r = await client('scout-1').chat({ prompt: 'persist me' });
    await rows.flush();
    rows.stop();
    const [last] = await store.llmUsage.list({ agent: 'scout', limit: 1 });
    expect(last).toEqual(usage.at(-1));
    expect(last).toMatchObject({ correlationId: r.correlationId, agent: 'scout', instanceId: 'scout-1', tokensIn: 1234, tokensOut: 567, costAiDollars: 1.4675, outcome: 'ok' });
    expect((await store.llmUsage.list({ agent: 'nobody', limit: 5 })).length).toBe(0);
  });
});
