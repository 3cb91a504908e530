import { Ollama } from 'ollama';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLlmHttp, type LlmHttp } from './llm-http.js';

/**
 * Conformance with the official `ollama` npm client: pointed at the daemon instead of an
 * Ollama server, everything it does (chat, streams, embeddings, model routes) works, and
 * every error is a ResponseError carrying the message and status.
 */
let h: LlmHttp;
let ollama: Ollama;

beforeAll(async () => {
  h = await startLlmHttp();
  ollama = new Ollama({ host: h.base, headers: { authorization: `Bearer ${h.token}` } });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.scopes.length = 0;
});

/** The client's error class is not exported; it is an Error named ResponseError with the HTTP status. */
type ResponseError = Error & { status_code: number; error: string };

async function rejection(p: Promise<unknown>): Promise<ResponseError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).name).toBe('ResponseError');
  return err as ResponseError;
}

describe('the official ollama client against the gateway', () => {
  it('chats, whole and streamed, with tool calls and their results', async () => {
    h.ol.next({ kind: 'reply', text: 'Hello there.', usage: { in: 5, out: 2 } });
    const r = await ollama.chat({ model: 'default', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.message.content).toBe('Hello there.');
    expect(r).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 2 });
    expect(h.scopes).toEqual(['llm:invoke']);

    h.ol.next({ kind: 'reply', text: 'one two three' });
    let text = '';
    let last: { done: boolean } | undefined;
    for await (const part of await ollama.chat({ model: 'default', messages: [{ role: 'user', content: 'count' }], stream: true })) {
      text += part.message.content;
      last = part;
    }
    expect(text).toBe('one two three');
    expect(last?.done).toBe(true);

    h.ol.next({ kind: 'reply', text: '', toolCalls: [{ id: 'x', name: 'weather', arguments: { city: 'Oslo' } }] });
    const tools = [{ type: 'function', function: { name: 'weather', description: 'weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const call = await ollama.chat({ model: 'default', messages: [{ role: 'user', content: 'weather?' }], tools });
    expect(call.message.tool_calls).toEqual([{ function: { name: 'weather', arguments: { city: 'Oslo' } } }]);
    // The result goes back by tool name, as Ollama clients send it.
    h.ol.next({ kind: 'reply', text: 'It is sunny.' });
    const answer = await ollama.chat({ model: 'default', tools, messages: [{ role: 'user', content: 'weather?' }, call.message, { role: 'tool', content: 'sunny', tool_name: 'weather' }] });
    expect(answer.message.content).toBe('It is sunny.');
    expect(h.ol.requests.at(-1)!.body.messages.at(-1)).toMatchObject({ role: 'tool', content: 'sunny' });
  });

  it('generates, streamed', async () => {
    h.ol.next({ kind: 'reply', text: 'a b c' });
    let text = '';
    for await (const part of await ollama.generate({ model: 'default', prompt: 'go', stream: true })) text += part.response;
    expect(text).toBe('a b c');
  });

  it('turns every error into a ResponseError with the message and status', async () => {
    const unknown = await rejection(ollama.chat({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }));
    expect(unknown.status_code).toBe(404);
    expect(unknown.message).toMatch(/unknown model "gpt-9"; known: default, cloud, embed, plain/);
    expect(unknown.message).not.toContain('[object Object]');

    const noAuth = await rejection(new Ollama({ host: h.base }).list());
    expect(noAuth.status_code).toBe(401);
    expect(noAuth.message).toMatch(/token/i);

    const bad = await rejection(ollama.chat({ model: 'default', messages: [{ role: 'wizard' as 'user', content: 'x' }] }));
    expect(bad.status_code).toBe(400);
    expect(bad.message).toMatch(/messages\.0\.role/);
  });

  it('refuses what a model cannot do with a 400 that names the models that can, and calls no provider', async () => {
    const before = h.ol.requests.length + h.oa.requests.length;
    const tools = [{ type: 'function', function: { name: 'look', parameters: { type: 'object', properties: {} } } }];
    const err = await rejection(ollama.chat({ model: 'plain', messages: [{ role: 'user', content: 'x' }], tools }));
    expect(err.status_code).toBe(400);
    expect(err.message).toMatch(/model "plain" cannot do tools .*models that can: default, cloud/);
    const json = await rejection(ollama.chat({ model: 'plain', messages: [{ role: 'user', content: 'x' }], format: 'json' }));
    expect(json.message).toMatch(/cannot do json/);
    const embed = await rejection(ollama.embed({ model: 'plain', input: 'x' }));
    expect(embed.status_code).toBe(400);
    expect(embed.message).toMatch(/cannot do embed .*models that can: embed/);
    expect(h.ol.requests.length + h.oa.requests.length).toBe(before);
  });

  it('ends a stream that breaks after the first token with an error carrying the provider message', async () => {
    h.ol.next({ kind: 'midstream', text: 'half a sentence here', afterChunks: 2, how: 'disconnect' });
    const parts: string[] = [];
    const err = await (async () => {
      for await (const part of await ollama.chat({ model: 'default', messages: [{ role: 'user', content: 'x' }], stream: true })) parts.push(part.message.content);
    })().then(() => null, (e: unknown) => e);
    expect(parts.join('')).toBe('half a');
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/ollama/);
  });

  it('embeds through the gateway, one text or several, and counts the tokens', async () => {
    const r = await ollama.embed({ model: 'embed', input: ['alpha', 'beta'] });
    expect(r.embeddings).toHaveLength(2);
    expect(r.embeddings[0]).toHaveLength(8);
    // Ollama's /api/embed gives unit vectors.
    for (const v of r.embeddings) expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    expect(r.prompt_eval_count).toBe(3);
    expect(h.oa.requests.at(-1)).toMatchObject({ path: '/v1/embeddings', body: { model: 'text-embed-fake', input: ['alpha', 'beta'] } });
    const one = await ollama.embed({ model: 'embed', input: 'alpha' });
    expect(one.embeddings[0]).toEqual(r.embeddings[0]);
    // The older route answers the model's own vector.
    const legacy = await ollama.embeddings({ model: 'embed', prompt: 'alpha' });
    expect(legacy.embedding.map((x) => x / Math.hypot(...legacy.embedding))).toEqual(r.embeddings[0]);
    const refused = await rejection(ollama.embed({ model: 'embed', input: 'alpha', dimensions: 3 }));
    expect(refused.message).toMatch(/embeds in 8 dimensions; dimensions=3/);
  });

  it('lists, shows and reports running models and the API version', async () => {
    expect((await ollama.list()).models.map((m) => m.name)).toEqual(['default', 'cloud', 'embed', 'plain']);
    const show = await ollama.show({ model: 'plain' });
    expect(show.capabilities).toEqual(['completion']);
    expect(show.model_info).toMatchObject({ 'general.architecture': 'aiflock', 'aiflock.context_length': 2048 });
    expect((await ollama.show({ model: 'default' })).capabilities).toEqual(['completion', 'tools']);
    expect((await ollama.show({ model: 'embed' })).capabilities).toEqual(['embedding']);
    const missing = await rejection(ollama.show({ model: 'nope' }));
    expect(missing.status_code).toBe(404);
    expect(missing.message).toBe("model 'nope' not found");
    const ps = await ollama.ps();
    // `context_length` is on Ollama's wire but not in the client's types.
    expect(ps.models.map((m) => [m.name, (m as typeof m & { context_length: number }).context_length])).toEqual([['default', 4096], ['cloud', 4096], ['embed', 4096], ['plain', 2048]]);
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(h.scopes.every((s) => s === 'llm:invoke')).toBe(true);
  });
});
