import { systemClock, type ChatChunk } from '@aiflock/core';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { OllamaProvider } from '../../src/adapters/llm/ollama.js';
import { LlmConfigSchema } from '../../src/llm/config.js';
import { setupLlm } from '../../src/llm/setup.js';
import { createLogger, logFn } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { startLlmHttp, type LlmHttp } from './llm-http.js';

/**
 * The daemon's LLM routes on a real HTTP server (see llm-http.ts). Clients are the real
 * `openai` npm package and our own Ollama adapter pointed at the daemon.
 */
let h: LlmHttp;
let base: string;
let oa: FakeLlmServer;
let ol: FakeLlmServer;
let token: string;
let scopes: unknown[];

const authorized = { 'content-type': 'application/json', authorization: '' };

beforeAll(async () => {
  h = await startLlmHttp();
  ({ base, oa, ol, token, scopes } = h);
  authorized.authorization = `Bearer ${token}`;
});

afterAll(async () => {
  await h?.close();
});

beforeEach(() => {
  scopes.length = 0;
});

const client = () => new OpenAI({ baseURL: `${base}/v1`, apiKey: token, maxRetries: 0 });

describe('OpenAI-compatible routes, driven by the official openai client', () => {
  it('completes a chat', async () => {
    ol.next({ kind: 'reply', text: 'Hello, human.', usage: { in: 9, out: 3 } });
    const r = await client().chat.completions.create({ model: 'default', messages: [{ role: 'system', content: 'be nice' }, { role: 'user', content: 'hi' }] });
    expect(r.choices[0]!.message.content).toBe('Hello, human.');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage).toEqual({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
    expect(r.model).toBe('default');
    // The daemon's key went to the provider; the client's token did not.
    expect(ol.requests.at(-1)!.body.messages).toEqual([{ role: 'system', content: 'be nice' }, { role: 'user', content: 'hi' }]);
    expect(scopes).toEqual(['llm:invoke']);
  });

  it('streams a chat with usage at the end', async () => {
    ol.next({ kind: 'reply', text: 'one two three', usage: { in: 4, out: 3 } });
    const stream = await client().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'count' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: unknown = null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('one two three');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });
  });

  it('streams tool calls from Ollama as OpenAI tool call deltas', async () => {
    ol.next({ kind: 'reply', text: '', toolCalls: [{ id: 'x', name: 'move_to', arguments: { x: 1, y: 2 } }] });
    const stream = client().chat.completions.stream({
      model: 'default',
      messages: [{ role: 'user', content: 'go' }],
      tools: [{ type: 'function', function: { name: 'move_to', parameters: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } } } } }],
    });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('move_to');
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ x: 1, y: 2 });
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('passes a tool result back, and JSON-schema output requests through', async () => {
    oa.next({ kind: 'reply', text: '{"ok":true}' });
    const r = await client().chat.completions.create({
      model: 'cloud',
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'move_to', arguments: '{"x":1}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'arrived' },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object', properties: { ok: { type: 'boolean' } } } } },
    });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ ok: true });
    const sent = oa.requests.at(-1)!.body;
    expect(sent.messages[2]).toEqual({ role: 'tool', tool_call_id: 'c1', content: 'arrived' });
    expect(sent.response_format.json_schema.schema).toEqual({ type: 'object', properties: { ok: { type: 'boolean' } } });
    expect(oa.requests.at(-1)!.headers['authorization']).toBe('Bearer sk-daemon-only');
  });

  it('embeds and lists models', async () => {
    const e = await client().embeddings.create({ model: 'embed', input: ['a', 'b'] });
    expect(e.data.map((d) => d.index)).toEqual([0, 1]);
    expect(e.data[0]!.embedding).toHaveLength(8);
    // The client asked for base64 and decoded it; the values match the provider's floats.
    const direct = await client().embeddings.create({ model: 'embed', input: ['a', 'b'], encoding_format: 'float' });
    expect(e.data[1]!.embedding.map((x) => Math.round(x * 1e6))).toEqual(direct.data[1]!.embedding.map((x) => Math.round(x * 1e6)));
    const models = [];
    for await (const m of client().models.list()) models.push(m.id);
    expect(models).toEqual(['default', 'cloud', 'embed', 'plain']);
  });

  it('turns an unknown model into a 404 the client surfaces, naming the known ones', async () => {
    const err = await client().chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as Error).message).toMatch(/unknown model "gpt-9"; known: default, cloud, embed, plain/);
  });

  it('rejects a bad request naming the field, and calls no provider', async () => {
    const before = ol.requests.length + oa.requests.length;
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: authorized, body: JSON.stringify({ model: 'default', messages: [{ role: 'wizard', content: 'x' }] }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.message).toMatch(/messages\.0\.role/);
    expect(ol.requests.length + oa.requests.length).toBe(before);
  });

  it('falls back to the cloud route when the local provider fails, and says which provider answered', async () => {
    ol.next({ kind: 'error', status: 500, message: 'model crashed' });
    oa.next({ kind: 'reply', text: 'cloud says hi' });
    const res = await client().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(res.data.choices[0]!.message.content).toBe('cloud says hi');
    expect(res.response.headers.get('x-aiflock-provider')).toBe('cloud');
  });
});

describe('POST /v1/llm/infer (seed 3)', () => {
  const infer = (body: unknown, headers: Record<string, string> = {}) => fetch(`${base}/v1/llm/infer`, { method: 'POST', headers: { ...authorized, ...headers }, body: JSON.stringify(body) });

  it('returns the final text with provider, usage, cost and correlation id', async () => {
    ol.next({ kind: 'reply', text: 'final text', usage: { in: 1000, out: 500 } });
    const res = await infer({ model: 'default', input: 'tell me', params: { maxTokens: 50, temperature: 0 } }, { 'x-request-id': 'req-123' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ output: 'final text', toolCalls: [], model: 'default', provider: 'ollama', finishReason: 'stop', usage: { tokensIn: 1000, tokensOut: 500 }, costAiDollars: 2, correlationId: 'req-123', fallbackUsed: false });
    expect(ol.requests.at(-1)!.body.options).toEqual({ num_predict: 50, temperature: 0 });
    // A string input is a prompt to complete: Ollama gets it on /api/generate; messages go to /api/chat.
    expect(ol.requests.at(-1)).toMatchObject({ path: '/api/generate', body: { prompt: 'tell me' } });
    ol.next({ kind: 'reply', text: 'chatted' });
    await infer({ model: 'default', input: [{ role: 'user', content: 'tell me' }] });
    expect(ol.requests.at(-1)).toMatchObject({ path: '/api/chat', body: { messages: [{ role: 'user', content: 'tell me' }] } });
  });

  it('honours policyOverride', async () => {
    oa.next({ kind: 'reply', text: 'cloud' });
    const res = await infer({ model: 'default', input: 'x', policyOverride: 'cloud' });
    expect(((await res.json()) as { provider: string }).provider).toBe('cloud');
  });

  it('streams tokens as server-sent events', async () => {
    ol.next({ kind: 'reply', text: 'a b c' });
    const res = await infer({ input: 'x', stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]!) as Record<string, unknown> }));
    expect(events.filter((e) => e.event === 'token').map((e) => e.data['text']).join('')).toBe('a b c');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { provider: 'ollama', finishReason: 'stop' } });
  });

  it('ends a stream that breaks after the first token with an error event naming the provider', async () => {
    ol.next({ kind: 'midstream', text: 'half a sentence here', afterChunks: 2, how: 'disconnect' });
    const text = await (await infer({ input: 'x', stream: true })).text();
    expect(text).toContain('event: token');
    const err = JSON.parse(/event: error\ndata: (.*)\n/.exec(text)![1]!) as { error: { code: string; details: { provider: string } } };
    expect(err.error.code).toBe('upstream_failed');
    expect(err.error.details.provider).toBe('ollama');
    expect(text).not.toContain('event: done');
  });

  it('stops the provider call when the HTTP client goes away mid-stream', async () => {
    ol.next({ kind: 'reply', text: Array.from({ length: 40 }, (_, i) => `t${i}`).join(' '), chunkDelayMs: 30 });
    const res = await infer({ input: 'x', stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await expect.poll(() => ol.requests.at(-1)!.aborted).toBe(true);
  });

  it('rejects bad input with a clear error', async () => {
    const res = await infer({ model: 'default', input: '', params: { temperature: 9 } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/input/);
    expect(body.error.message).toMatch(/params\.temperature/);
  });
});

describe('Ollama-compatible routes, driven by our Ollama adapter pointed at the daemon', () => {
  it('streams /api/chat as NDJSON and lists /api/tags', async () => {
    ol.next({ kind: 'reply', text: 'via the gateway', usage: { in: 2, out: 3 } });
    const client = new OllamaProvider('daemon', base, token);
    const chunks: ChatChunk[] = [];
    for await (const c of client.chatStream({ model: 'default', messages: [{ role: 'user', content: 'hi' }] }, { timeoutMs: 5000 })) chunks.push(c);
    expect(chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('')).toBe('via the gateway');
    expect(chunks.at(-1)).toMatchObject({ type: 'done', usage: { tokensIn: 2, tokensOut: 3 } });
    expect((await client.listModels({ timeoutMs: 5000 })).map((m) => m.name)).toEqual(['default', 'cloud', 'embed', 'plain']);
    ol.next({ kind: 'reply', text: 'whole' });
    expect((await client.chat({ model: 'default', messages: [{ role: 'user', content: 'hi' }] }, { timeoutMs: 5000 })).content).toBe('whole');
  });

  it('serves /api/generate streamed and whole', async () => {
    ol.next({ kind: 'reply', text: 'gen one two', usage: { in: 3, out: 3 } });
    const res = await fetch(`${base}/api/generate`, { method: 'POST', headers: authorized, body: JSON.stringify({ model: 'default', prompt: 'go', system: 'terse' }) });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { response: string; done: boolean; eval_count?: number });
    expect(lines.map((l) => l.response).join('')).toBe('gen one two');
    expect(lines.at(-1)).toMatchObject({ done: true, eval_count: 3 });
    // A completion stays a completion upstream: Ollama's /api/generate, prompt and system as given.
    expect(ol.requests.at(-1)).toMatchObject({ path: '/api/generate', body: { prompt: 'go', system: 'terse', stream: true } });
    ol.next({ kind: 'reply', text: 'all at once' });
    const whole = await fetch(`${base}/api/generate`, { method: 'POST', headers: authorized, body: JSON.stringify({ model: 'default', prompt: 'go', stream: false, format: 'json', options: { num_predict: 7 } }) });
    expect(await whole.json()).toMatchObject({ response: 'all at once', done: true });
    expect(ol.requests.at(-1)).toMatchObject({ path: '/api/generate', body: { prompt: 'go', stream: false, format: 'json', options: { num_predict: 7 } } });
    expect(ol.requests.at(-1)!.body).not.toHaveProperty('messages');
  });
});

describe('metrics', () => {
  it('counts tokens, calls by provider, fallbacks and breaker state', async () => {
    const text = await (await fetch(`${base}/metrics`, { headers: authorized })).text();
    expect(text).toMatch(/aiflock_llm_tokens_total\{direction="in",provider="ollama",model="default"\} \d+/);
    expect(text).toMatch(/aiflock_llm_requests_total\{provider="cloud",model="default",outcome="ok"\} \d+/);
    expect(text).toMatch(/aiflock_llm_fallbacks_total\{provider="ollama",kind="upstream"\} \d+/);
    expect(text).toMatch(/aiflock_llm_breaker_state\{provider="ollama"\} 0/);
    expect(text).toMatch(/aiflock_llm_request_duration_seconds_bucket/);
  });
});

describe('entitlements over HTTP', () => {
  it('answers 429 with Retry-After once requests/min is used up, and 100 concurrent requests never get more', async () => {
    const logger = createLogger('warn');
    const m = createMetrics(h.store);
    const limited = await setupLlm(
      LlmConfigSchema.parse({ providers: { ollama: { url: ol.url } }, models: { default: { provider: 'ollama', model: 'm' } }, entitlements: { default: { requestsPerMinute: 10 } } }),
      { clock: systemClock, log: logFn(logger), metrics: m.llm },
    );
    const app2 = h.serve({ llm: { gateway: limited.gateway, detail: limited.detail } }, m);
    await app2.listen({ host: '127.0.0.1', port: 0 });
    const addr = app2.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/v1/llm/infer`;
    try {
      const before = ol.requests.length;
      const responses = await Promise.all(
        Array.from({ length: 100 }, () => fetch(url, { method: 'POST', headers: authorized, body: JSON.stringify({ input: 'hi' }) })),
      );
      const ok = responses.filter((r) => r.status === 200);
      const refused = responses.filter((r) => r.status === 429);
      expect(ok).toHaveLength(10);
      expect(refused).toHaveLength(90);
      expect(ol.requests.length - before).toBe(10);
      const retryAfter = Number(refused[0]!.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const body = (await refused[0]!.json()) as { error: { code: string; details: { limit: string } } };
      expect(body.error).toMatchObject({ code: 'quota_exceeded', details: { limit: 'requests_per_minute' } });
      const metricsText = await m.registry.metrics();
      expect(metricsText).toMatch(/aiflock_llm_quota_refusals_total\{limit="requests_per_minute"\} 90/);
    } finally {
      await app2.close();
      await limited.close();
    }
  }, 60_000);
});
