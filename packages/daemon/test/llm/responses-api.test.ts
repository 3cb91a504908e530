import { AuthService, systemClock } from '@aiflock/core';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startLlmHttp, type LlmHttp } from './llm-http.js';

/**
 * `POST /v1/responses` (OpenAI's Responses API) against a real daemon app, driven by the
 * official `openai` client and by the Vercel AI SDK's default OpenAI provider (which speaks
 * the Responses API). `cloud` is served by a provider speaking OpenAI chat completions, so
 * the test can read what the gateway sent on.
 */
let h: LlmHttp;
let client: OpenAI;

beforeAll(async () => {
  h = await startLlmHttp();
  client = new OpenAI({ baseURL: `${h.base}/v1`, apiKey: h.token });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.scopes.length = 0;
});

const weather = { type: 'function' as const, name: 'weather', description: 'weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false };
const sent = () => h.oa.requests.at(-1)!.body;

/** The AI SDK's tool loop on `model`: the scripted model calls `weather` for `city`, then answers; the cities the tool was called for and the answer. */
async function weatherLoop(model: Parameters<typeof generateText>[0]['model'], city: string, callId: string): Promise<{ cities: string[]; text: string }> {
  h.oa.next({ kind: 'reply', toolCalls: [{ id: callId, name: 'weather', arguments: { city } }] }, { kind: 'reply', text: `It is sunny in ${city}.` });
  const cities: string[] = [];
  const r = await generateText({
    model,
    prompt: `weather in ${city}?`,
    tools: { weather: tool({ description: 'weather now', inputSchema: z.object({ city: z.string() }), execute: async ({ city: c }) => (cities.push(c), `sunny in ${c}`) }) },
    stopWhen: stepCountIs(3),
    maxRetries: 0,
  });
  return { cities, text: r.text };
}

describe('the openai client on /v1/responses', () => {
  it('answers a text input with output_text and usage, metered like chat', async () => {
    h.oa.next({ kind: 'reply', text: 'Hello, human.', usage: { in: 9, out: 3 } });
    const r = await client.responses.create({ model: 'cloud', input: 'hi', instructions: 'be brief' });
    expect(r.output_text).toBe('Hello, human.');
    expect(r).toMatchObject({ object: 'response', status: 'completed', model: 'cloud', instructions: 'be brief' });
    expect(r.usage).toMatchObject({ input_tokens: 9, output_tokens: 3, total_tokens: 12 });
    expect(sent().messages).toEqual([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }]);
    expect(h.scopes).toEqual(['llm:invoke']);
    const metrics = await (await fetch(`${h.base}/metrics`, { headers: { authorization: `Bearer ${h.token}` } })).text();
    expect(metrics).toMatch(/aiflock_llm_tokens_total\{direction="out",provider="cloud",model="cloud"\} \d+/);
  });

  it('takes message items with content parts, developer messages and earlier assistant turns', async () => {
    h.oa.next({ kind: 'reply', text: 'Four.' });
    const r = await client.responses.create({
      model: 'cloud',
      input: [
        { role: 'developer', content: 'answer in one word' },
        { role: 'user', content: [{ type: 'input_text', text: 'two plus ' }, { type: 'input_text', text: 'two?' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Which base?', annotations: [] }], id: 'msg_1', status: 'completed' },
        { role: 'user', content: 'ten' },
      ],
    });
    expect(r.output_text).toBe('Four.');
    expect(sent().messages).toEqual([
      { role: 'system', content: 'answer in one word' },
      { role: 'user', content: 'two plus two?' },
      { role: 'assistant', content: 'Which base?' },
      { role: 'user', content: 'ten' },
    ]);
  });

  it('streams the Responses event sequence, which the client assembles into the final response', async () => {
    h.oa.next({ kind: 'reply', text: 'one two three', usage: { in: 4, out: 3 } });
    const stream = await client.responses.create({ model: 'cloud', input: 'count', stream: true });
    const types: string[] = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') expect(ev.response.usage).toMatchObject({ input_tokens: 4, output_tokens: 3 });
    }
    expect(text).toBe('one two three');
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);

    h.oa.next({ kind: 'reply', text: 'assembled here' });
    const helper = client.responses.stream({ model: 'cloud', input: 'x' });
    const final = await helper.finalResponse();
    expect(final.output_text).toBe('assembled here');
  });

  it('round-trips function tools: a call out, its output fed back (as items and by previous_response_id)', async () => {
    h.oa.next({ kind: 'reply', toolCalls: [{ id: 'call_7', name: 'weather', arguments: { city: 'Oslo' } }] });
    const first = await client.responses.create({ model: 'cloud', input: 'weather in Oslo?', tools: [weather] });
    const call = first.output.find((o) => o.type === 'function_call')!;
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_7', name: 'weather', arguments: '{"city":"Oslo"}' });
    expect(sent().tools).toEqual([{ type: 'function', function: { name: 'weather', description: 'weather now', parameters: weather.parameters } }]);

    h.oa.next({ kind: 'reply', text: 'Sunny in Oslo.' });
    const second = await client.responses.create({ model: 'cloud', tools: [weather], input: [{ role: 'user', content: 'weather in Oslo?' }, call, { type: 'function_call_output', call_id: 'call_7', output: 'sunny, 21C' }] });
    expect(second.output_text).toBe('Sunny in Oslo.');
    expect(sent().messages.slice(1)).toEqual([
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_7', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_7', content: 'sunny, 21C' },
    ]);

    h.oa.next({ kind: 'reply', text: 'Still sunny.' });
    const third = await client.responses.create({ model: 'cloud', previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: 'call_7', output: 'sunny' }] });
    expect(third.output_text).toBe('Still sunny.');
    expect(sent().messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'tool']);

    // An earlier output item by reference, as clients that store responses send it.
    h.oa.next({ kind: 'reply', text: 'Sunny again.' });
    await client.responses.create({ model: 'cloud', input: [{ role: 'user', content: 'and now?' }, { type: 'item_reference', id: call.id! }, { type: 'function_call_output', call_id: 'call_7', output: 'sunny' }] });
    expect(sent().messages[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_7', function: { name: 'weather' } }] });
    // Another caller cannot read it.
    const stranger = await new AuthService({ store: h.store, clock: systemClock, sessionTtlMs: 60_000 }).createToken({ name: 'stranger', scopes: ['llm:invoke'] });
    const refused = await new OpenAI({ baseURL: `${h.base}/v1`, apiKey: stranger.token }).responses.create({ model: 'cloud', previous_response_id: first.id, input: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toMatch(/previous_response_id ".*" is not known/);
  });

  it('streams a tool call as a function_call item', async () => {
    h.oa.next({ kind: 'reply', toolCalls: [{ id: 'call_9', name: 'weather', arguments: { city: 'Rome' } }] });
    const final = await client.responses.stream({ model: 'cloud', input: 'weather in Rome?', tools: [weather] }).finalResponse();
    expect(final.output).toEqual([expect.objectContaining({ type: 'function_call', call_id: 'call_9', name: 'weather', arguments: '{"city":"Rome"}', status: 'completed' })]);
  });

  it('passes structured output (text.format json_schema) through', async () => {
    h.oa.next({ kind: 'reply', text: '{"city":"Oslo","temp":21}' });
    const schema = { type: 'object', properties: { city: { type: 'string' }, temp: { type: 'number' } }, required: ['city', 'temp'], additionalProperties: false };
    const r = await client.responses.create({ model: 'cloud', input: 'weather as JSON', text: { format: { type: 'json_schema', name: 'weather', schema, strict: true } } });
    expect(JSON.parse(r.output_text)).toEqual({ city: 'Oslo', temp: 21 });
    expect(sent().response_format).toMatchObject({ type: 'json_schema', json_schema: { schema } });
    expect(r.text?.format).toMatchObject({ type: 'json_schema', name: 'weather' });
  });

  it('answers 400, not a retried 503, when the model cannot do what is asked; and names bad input', async () => {
    const before = h.oa.requests.length + h.ol.requests.length;
    const err = await client.responses.create({ model: 'plain', input: 'x', tools: [weather] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/model "plain" cannot do tools/);
    const hosted = await client.responses.create({ model: 'cloud', input: 'x', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e);
    expect((hosted as Error).message).toMatch(/tools\.0\.type: only function tools are supported/);
    const image = await client.responses.create({ model: 'cloud', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x/y.png', detail: 'auto' }] }] }).catch((e: unknown) => e);
    expect((image as Error).message).toMatch(/input\.0: content part type "input_image" is not supported/);
    const forgotten = await client.responses.create({ model: 'cloud', input: 'x', previous_response_id: 'resp_unknown' }).catch((e: unknown) => e);
    expect((forgotten as Error).message).toMatch(/previous_response_id "resp_unknown" is not known/);
    expect(h.oa.requests.length + h.ol.requests.length).toBe(before);
  });

  it('ends a stream that breaks after the first token with an error event carrying the message', async () => {
    h.oa.next({ kind: 'midstream', text: 'half a sentence here', afterChunks: 2, how: 'disconnect' });
    const events: Array<{ type: string; message?: string }> = [];
    for await (const ev of await client.responses.create({ model: 'cloud', input: 'x', stream: true })) events.push(ev as { type: string; message?: string });
    expect(events.at(-1)).toMatchObject({ type: 'error', message: expect.stringMatching(/cloud failed mid-stream/) });
    expect(events.map((e) => e.type)).not.toContain('response.completed');
  });
});

describe('the Vercel AI SDK default OpenAI provider (Responses API)', () => {
  const openai = () => createOpenAI({ baseURL: `${h.base}/v1`, apiKey: h.token });

  it('generates and streams text', async () => {
    h.oa.next({ kind: 'reply', text: 'Hi from the gateway.', usage: { in: 7, out: 5 } });
    const r = await generateText({ model: openai()('cloud'), prompt: 'hi', maxRetries: 0 });
    expect(r.text).toBe('Hi from the gateway.');
    expect(r.usage).toMatchObject({ inputTokens: 7, outputTokens: 5 });
    expect(h.scopes).toEqual(['llm:invoke']);

    h.oa.next({ kind: 'reply', text: 'streamed words here' });
    const s = streamText({ model: openai()('cloud'), system: 'terse', prompt: 'go', maxRetries: 0 });
    let text = '';
    for await (const t of s.textStream) text += t;
    expect(text).toBe('streamed words here');
    expect(sent().messages[0]).toEqual({ role: 'system', content: 'terse' });
  });

  it('runs a tool loop: the SDK calls the tool and the gateway gets its result back', async () => {
    expect(await weatherLoop(openai()('cloud'), 'Oslo', 'call_1')).toEqual({ cities: ['Oslo'], text: 'It is sunny in Oslo.' });
    expect(sent().messages.slice(-2)).toEqual([
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: expect.stringContaining('sunny in Oslo') },
    ]);
  });
});

describe("the Vercel AI SDK's .chat() provider (Chat Completions)", () => {
  // The SDK's own fetch, recorded, so the test sees which route each call took.
  const paths: string[] = [];
  const chat = () => createOpenAI({ baseURL: `${h.base}/v1`, apiKey: h.token, fetch: async (input, init) => (paths.push(new URL(input instanceof Request ? input.url : String(input)).pathname), fetch(input, init)) }).chat;

  it('generates, streams and runs a tool loop over /v1/chat/completions', async () => {
    paths.length = 0;
    h.oa.next({ kind: 'reply', text: 'Hi over chat.', usage: { in: 4, out: 3 } });
    const r = await generateText({ model: chat()('cloud'), prompt: 'hi', maxRetries: 0 });
    expect(r.text).toBe('Hi over chat.');
    expect(r.usage).toMatchObject({ inputTokens: 4, outputTokens: 3 });

    h.oa.next({ kind: 'reply', text: 'chat stream words' });
    const s = streamText({ model: chat()('cloud'), system: 'terse', prompt: 'go', maxRetries: 0 });
    let text = '';
    for await (const t of s.textStream) text += t;
    expect(text).toBe('chat stream words');
    expect(sent().messages[0]).toEqual({ role: 'system', content: 'terse' });

    expect(await weatherLoop(chat()('cloud'), 'Bergen', 'call_9')).toEqual({ cities: ['Bergen'], text: 'It is sunny in Bergen.' });
    expect(sent().messages.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_9', content: expect.stringContaining('sunny in Bergen') });
    expect(new Set(paths)).toEqual(new Set(['/v1/chat/completions']));
  });
});

describe('the OpenAPI document', () => {
  it('declares every compatible route with its scope and request body', async () => {
    const doc = (await (await fetch(`${h.base}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-aiflock-scope': string; requestBody?: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } } }>> };
    const posts = ['/v1/responses', '/v1/chat/completions', '/v1/embeddings', '/api/chat', '/api/generate', '/api/embed', '/api/embeddings', '/api/show'];
    for (const path of posts) {
      const op = doc.paths[path]?.['post'];
      expect(op?.['x-aiflock-scope'], path).toBe('llm:invoke');
      expect(Object.keys(op?.requestBody?.content['application/json'].schema.properties ?? {}), path).toContain('model');
    }
    for (const path of ['/api/tags', '/api/ps', '/api/version', '/v1/models']) expect(doc.paths[path]?.['get']?.['x-aiflock-scope'], path).toBe('llm:invoke');
  });
});
