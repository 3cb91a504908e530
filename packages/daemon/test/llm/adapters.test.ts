import { LlmProviderError, type ChatChunk, type LlmProvider } from '@aiflock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlmServer, type Wire } from '../../../../testkit/llm-wire-servers.js';
import { AnthropicProvider } from '../../src/adapters/llm/anthropic.js';
import { OllamaProvider } from '../../src/adapters/llm/ollama.js';
import { OpenAiProvider } from '../../src/adapters/llm/openai.js';

const opts = { timeoutMs: 5_000 };
const user = (content: string) => [{ role: 'user' as const, content }];
const weather = { id: 'call_1', name: 'get_weather', arguments: { city: 'Paris', days: 2 } };

async function collect(it: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

async function failure(p: Promise<unknown> | AsyncIterable<ChatChunk>): Promise<LlmProviderError> {
  try {
    if (Symbol.asyncIterator in p) await collect(p);
    else await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LlmProviderError);
    return err as LlmProviderError;
  }
  throw new Error('expected a failure');
}

const make: Record<Wire, (s: FakeLlmServer) => LlmProvider> = {
  openai: (s) => new OpenAiProvider('oa', s.url, 'sk-test-secret'),
  ollama: (s) => new OllamaProvider('ol', s.url),
  anthropic: (s) => new AnthropicProvider('an', s.url, 'ak-test-secret'),
};

describe.each(['openai', 'ollama', 'anthropic'] as const)('%s adapter against its wire protocol', (wire) => {
  let server: FakeLlmServer;
  let p: LlmProvider;
  beforeAll(async () => {
    server = await startFakeLlm(wire);
    p = make[wire](server);
  });
  afterAll(() => server.close());

  it('answers a chat and counts tokens', async () => {
    server.next({ kind: 'reply', text: 'The sky is blue.', usage: { in: 7, out: 5 } });
    const r = await p.chat({ model: 'm1', messages: [{ role: 'system', content: 'Be brief.' }, ...user('Sky colour?')], maxTokens: 20 }, opts);
    expect(r).toMatchObject({ content: 'The sky is blue.', finishReason: 'stop', usage: { tokensIn: 7, tokensOut: 5 }, toolCalls: [] });
    const sent = server.requests.at(-1)!.body;
    if (wire === 'anthropic') {
      // System goes in its own field, not among the messages.
      expect(sent.system).toBe('Be brief.');
      expect(sent.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Sky colour?' }] }]);
      expect(sent.max_tokens).toBe(20);
      expect(server.requests.at(-1)!.headers['x-api-key']).toBe('ak-test-secret');
    } else if (wire === 'openai') {
      expect(sent.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
      expect(server.requests.at(-1)!.headers['authorization']).toBe('Bearer sk-test-secret');
    } else {
      expect(sent).toMatchObject({ model: 'm1', stream: false, options: { num_predict: 20 } });
    }
  });

  it('streams deltas and ends with usage', async () => {
    server.next({ kind: 'reply', text: 'one two three four', usage: { in: 3, out: 4 } });
    const chunks = await collect(p.chatStream({ model: 'm1', messages: user('count') }, opts));
    const text = chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('');
    expect(text).toBe('one two three four');
    expect(chunks.filter((c) => c.type === 'delta').length).toBeGreaterThan(1);
    expect(chunks.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop', usage: { tokensIn: 3, tokensOut: 4 } });
    if (wire === 'openai') expect(server.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
  });

  it('streams tool calls with their parsed arguments', async () => {
    server.next({ kind: 'reply', text: '', toolCalls: [weather] });
    const tools = [{ name: 'get_weather', description: 'forecast', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const chunks = await collect(p.chatStream({ model: 'm1', messages: user('weather?'), tools }, opts));
    const calls = chunks.flatMap((c) => (c.type === 'tool_call' ? [c.call] : []));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: 'get_weather', arguments: { city: 'Paris', days: 2 } });
    expect(chunks.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    const sent = server.requests.at(-1)!.body;
    if (wire === 'anthropic') expect(sent.tools[0]).toMatchObject({ name: 'get_weather', input_schema: tools[0]!.parameters });
    else expect(sent.tools[0]).toMatchObject({ type: 'function', function: { name: 'get_weather', parameters: tools[0]!.parameters } });
  });

  it('returns tool calls without streaming, and sends tool results back in its own shape', async () => {
    server.next({ kind: 'reply', text: '', toolCalls: [weather] });
    const r = await p.chat({ model: 'm1', messages: user('weather?'), tools: [{ name: 'get_weather', parameters: { type: 'object' } }] }, opts);
    expect(r.toolCalls[0]).toMatchObject({ name: 'get_weather', arguments: { city: 'Paris', days: 2 } });
    expect(r.finishReason).toBe('tool_calls');
    server.next({ kind: 'reply', text: 'Sunny.' });
    await p.chat({ model: 'm1', messages: [...user('weather?'), { role: 'assistant', content: '', toolCalls: [weather] }, { role: 'tool', content: '{"sky":"sunny"}', toolCallId: 'call_1' }] }, opts);
    const msgs = server.requests.at(-1)!.body.messages;
    if (wire === 'anthropic') {
      expect(msgs[1]).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: weather.arguments }] });
      expect(msgs[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '{"sky":"sunny"}' }] });
    } else if (wire === 'openai') {
      expect(msgs[1].tool_calls[0]).toEqual({ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(weather.arguments) } });
      expect(msgs[2]).toEqual({ role: 'tool', tool_call_id: 'call_1', content: '{"sky":"sunny"}' });
    } else {
      expect(msgs[1].tool_calls[0]).toEqual({ function: { name: 'get_weather', arguments: weather.arguments } });
      expect(msgs[2]).toMatchObject({ role: 'tool', content: '{"sky":"sunny"}' });
    }
  });

  it('asks for JSON-schema output in its own way', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    // Anthropic answers structured output as the input of the tool it was forced to use.
    if (wire === 'anthropic') server.next({ kind: 'reply', toolCalls: [{ id: 'toolu_1', name: 'structured_output', arguments: { ok: true } }] });
    else server.next({ kind: 'reply', text: '{"ok":true}' });
    const r = await p.chat({ model: 'm1', messages: user('status'), format: { schema } }, opts);
    expect(JSON.parse(r.content)).toEqual({ ok: true });
    expect(r).toMatchObject({ toolCalls: [], finishReason: 'stop' });
    const sent = server.requests.at(-1)!.body;
    if (wire === 'openai') expect(sent.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: true } });
    else if (wire === 'ollama') expect(sent.format).toEqual(schema);
    else expect(sent).toMatchObject({ tools: [{ name: 'structured_output', input_schema: schema }], tool_choice: { type: 'tool', name: 'structured_output' } });
  });

  it('maps 429 with Retry-After to rate_limit', async () => {
    server.next({ kind: 'error', status: 429, message: 'slow down', type: 'rate_limit_error', retryAfter: '3' });
    const e = await failure(p.chat({ model: 'm1', messages: user('x') }, opts));
    expect(e).toMatchObject({ kind: 'rate_limit', provider: p.name, opts: { status: 429, retryAfterMs: 3000 } });
    expect(e.retryable).toBe(true);
  });

  it('maps 401 to auth, context overflow to context_length, 500 to upstream', async () => {
    server.next({ kind: 'error', status: 401, message: 'invalid x-api-key', type: 'authentication_error' });
    expect((await failure(p.chat({ model: 'm1', messages: user('x') }, opts))).kind).toBe('auth');
    server.next({ kind: 'error', status: 400, message: "This model's maximum context length is 8192 tokens", code: 'context_length_exceeded' });
    expect((await failure(p.chat({ model: 'm1', messages: user('x') }, opts))).kind).toBe('context_length');
    server.next({ kind: 'error', status: 500, message: 'boom', type: 'api_error' });
    expect((await failure(p.chatStream({ model: 'm1', messages: user('x') }, opts))).kind).toBe('upstream');
  });

  it('reports a failure mid-stream after the first tokens, both as a dropped connection and as an error event', async () => {
    for (const how of ['disconnect', 'error_event'] as const) {
      server.next({ kind: 'midstream', text: 'alpha beta gamma delta', afterChunks: 2, how });
      const seen: ChatChunk[] = [];
      let caught: unknown;
      try {
        for await (const c of p.chatStream({ model: 'm1', messages: user('x') }, opts)) seen.push(c);
      } catch (err) {
        caught = err;
      }
      expect(seen.some((c) => c.type === 'delta'), how).toBe(true);
      expect(seen.some((c) => c.type === 'done'), how).toBe(false);
      expect(caught, how).toBeInstanceOf(LlmProviderError);
    }
  });

  it('calls malformed JSON an upstream failure', async () => {
    server.next({ kind: 'malformed' });
    const e = await failure(p.chat({ model: 'm1', messages: user('x') }, opts));
    expect(e.kind).toBe('upstream');
    expect(e.message).toMatch(/malformed JSON/);
  });

  it('times out a provider that never answers', async () => {
    server.next({ kind: 'hang' });
    const e = await failure(p.chat({ model: 'm1', messages: user('x') }, { timeoutMs: 200 }));
    expect(e.kind).toBe('timeout');
  });

  it('lists models', async () => {
    const models = await p.listModels(opts);
    expect(models.map((m) => m.name.replace(/:latest$/, ''))).toEqual([`fake-${wire}`]);
  });

  it('embeds a batch in input order (Anthropic has no embeddings: a validation error)', async () => {
    if (wire === 'anthropic') {
      expect((await failure(p.embed({ model: 'e1', input: ['alpha'] }, opts))).kind).toBe('validation');
      return;
    }
    const r = await p.embed({ model: 'e1', input: ['alpha', 'beta'] }, opts);
    expect(r.embeddings).toHaveLength(2);
    expect(r.embeddings[0]).toHaveLength(8);
    expect(r.embeddings[0]).not.toEqual(r.embeddings[1]);
  });
});

describe('provider down', () => {
  it('is an upstream error naming the provider', async () => {
    const server = await startFakeLlm('openai');
    const url = server.url;
    await server.close();
    const e = await failure(new OpenAiProvider('gone', url).chat({ model: 'm', messages: user('x') }, opts));
    expect(e).toMatchObject({ kind: 'upstream', provider: 'gone' });
  });
});

describe('Anthropic structured output is forced tool use', () => {
  let server: FakeLlmServer;
  let p: AnthropicProvider;
  beforeAll(async () => {
    server = await startFakeLlm('anthropic');
    p = new AnthropicProvider('an', server.url, 'ak-test-secret');
  });
  afterAll(() => server.close());
  const move = { type: 'object', properties: { action: { enum: ['move', 'wait'] }, x: { type: 'integer' } }, required: ['action'] };

  it('streams the forced tool input as the answer text, whole and valid', async () => {
    server.next({ kind: 'reply', toolCalls: [{ id: 'toolu_2', name: 'structured_output', arguments: { action: 'move', x: 3 } }] });
    const chunks = await collect(p.chatStream({ model: 'm1', messages: user('next move?'), format: { schema: move } }, opts));
    expect(chunks.filter((c) => c.type === 'tool_call')).toEqual([]);
    expect(JSON.parse(chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join(''))).toEqual({ action: 'move', x: 3 });
    expect(chunks.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(server.requests.at(-1)!.body).toMatchObject({ stream: true, tool_choice: { type: 'tool', name: 'structured_output' } });
  });

  it('wraps a schema that is not an object (tool inputs must be) and unwraps the answer', async () => {
    const list = { type: 'array', items: { type: 'string' } };
    server.next({ kind: 'reply', toolCalls: [{ id: 'toolu_3', name: 'structured_output', arguments: { value: ['a', 'b'] } }] });
    const r = await p.chat({ model: 'm1', messages: user('two letters'), format: { schema: list } }, opts);
    expect(JSON.parse(r.content)).toEqual(['a', 'b']);
    expect(server.requests.at(-1)!.body.tools[0].input_schema).toEqual({ type: 'object', properties: { value: list }, required: ['value'] });
    // `json` (any object) is an open object schema.
    server.next({ kind: 'reply', toolCalls: [{ id: 'toolu_4', name: 'structured_output', arguments: { anything: 1 } }] });
    expect(JSON.parse((await p.chat({ model: 'm1', messages: user('x'), format: 'json' }, opts)).content)).toEqual({ anything: 1 });
    expect(server.requests.at(-1)!.body.tools[0].input_schema).toEqual({ type: 'object' });
  });

  it('an answer without the forced output is an upstream error, not free text passed off as JSON', async () => {
    server.next({ kind: 'reply', text: 'Sure! Here is some JSON: {' });
    const e = await failure(p.chat({ model: 'm1', messages: user('x'), format: { schema: move } }, opts));
    expect(e).toMatchObject({ kind: 'upstream', provider: 'an' });
    expect(e.message).toContain('structured output');
    server.next({ kind: 'reply', text: 'no tools here' });
    expect((await failure(p.chatStream({ model: 'm1', messages: user('x'), format: { schema: move } }, opts))).kind).toBe('upstream');
  });

  it('refuses structured output together with tools before calling the API', async () => {
    const before = server.requests.length;
    const e = await failure(p.chat({ model: 'm1', messages: user('x'), format: 'json', tools: [{ name: 't', parameters: { type: 'object' } }] }, opts));
    expect(e.kind).toBe('validation');
    expect(server.requests.length).toBe(before);
  });
});

describe('Ollama one-shot completions use /api/generate', () => {
  let server: FakeLlmServer;
  let p: OllamaProvider;
  beforeAll(async () => {
    server = await startFakeLlm('ollama');
    p = new OllamaProvider('ol', server.url);
  });
  afterAll(() => server.close());

  it('sends prompt and system to /api/generate and streams the response lines', async () => {
    server.next({ kind: 'reply', text: 'Once upon a time', usage: { in: 4, out: 5 } });
    const chunks = await collect(p.chatStream({ model: 'm1', messages: [{ role: 'system', content: 'tell stories' }, ...user('Once')], maxTokens: 30, completion: true }, opts));
    expect(chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('')).toBe('Once upon a time');
    expect(chunks.filter((c) => c.type === 'delta').length).toBeGreaterThan(1);
    expect(chunks.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop', usage: { tokensIn: 4, tokensOut: 5 } });
    expect(server.requests.at(-1)).toMatchObject({ path: '/api/generate', body: { model: 'm1', prompt: 'Once', system: 'tell stories', stream: true, options: { num_predict: 30 } } });
  });

  it('answers whole, with a JSON schema format', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
    server.next({ kind: 'reply', text: '{"ok":false}', usage: { in: 2, out: 3 } });
    const r = await p.chat({ model: 'm1', messages: user('status'), format: { schema }, completion: true }, opts);
    expect(r).toMatchObject({ content: '{"ok":false}', usage: { tokensIn: 2, tokensOut: 3 }, toolCalls: [] });
    expect(server.requests.at(-1)).toMatchObject({ path: '/api/generate', body: { prompt: 'status', stream: false, format: schema } });
  });

  it('reports an error line mid-stream as a provider failure', async () => {
    server.next({ kind: 'midstream', text: 'alpha beta gamma', afterChunks: 1, how: 'error_event' });
    const e = await failure(p.chatStream({ model: 'm1', messages: user('x'), completion: true }, opts));
    expect(e.kind).toBe('upstream');
    expect(e.message).toContain('unexpected EOF');
  });

  it('keeps conversations, tools and non-completion calls on /api/chat', async () => {
    for (const req of [
      { model: 'm1', messages: user('x') },
      { model: 'm1', messages: [...user('a'), { role: 'assistant' as const, content: 'b' }, ...user('c')], completion: true },
      { model: 'm1', messages: user('x'), tools: [{ name: 't', parameters: { type: 'object' } }], completion: true },
    ]) {
      await p.chat(req, opts);
      expect(server.requests.at(-1)!.path).toBe('/api/chat');
    }
  });
});
