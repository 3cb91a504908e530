import { LlmProviderError, type ChatChunk } from '@aiflock/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedProvider } from '../../src/adapters/llm/embedded.js';
import { STORIES_MODEL } from './model-file.js';


describe('embedded adapter (node-llama-cpp, real GGUF model)', () => {
  const p = new EmbeddedProvider('embedded', { modelPath: STORIES_MODEL, threads: 1, contextSize: 512 });
  afterAll(() => p.close());
  const opts = { timeoutMs: 60_000 };

  it('completes a story prompt and counts tokens', async () => {
    const r = await p.chat({ model: 'stories260K', messages: [{ role: 'user', content: 'Once upon a time' }], maxTokens: 24 }, opts);
    expect(r.content.trim().length).toBeGreaterThan(10);
    expect(r.model).toBe('stories260K');
    expect(r.usage.tokensIn).toBeGreaterThan(0);
    expect(r.usage.tokensOut).toBeGreaterThan(5);
    expect(r.finishReason).toBe('length');
  });

  it('streams token deltas that add up to the completion', async () => {
    const chunks: ChatChunk[] = [];
    for await (const c of p.chatStream({ model: 'stories260K', messages: [{ role: 'user', content: 'Lily went to the park' }], maxTokens: 12 }, opts)) chunks.push(c);
    const deltas = chunks.filter((c) => c.type === 'delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(chunks.at(-1)?.type).toBe('done');
    const again = await p.chat({ model: 'stories260K', messages: [{ role: 'user', content: 'Lily went to the park' }], maxTokens: 12 }, opts);
    // Temperature 0 is deterministic: the streamed text is the same completion.
    expect(deltas.map((d) => (d.type === 'delta' ? d.text : '')).join('')).toBe(again.content);
  });

  it('produces output that parses and matches a JSON schema, from a story model', async () => {
    const schema = {
      type: 'object',
      properties: { action: { enum: ['walk', 'talk', 'rest'] }, target: { type: 'string', maxLength: 24 }, steps: { type: 'integer' } },
      required: ['action', 'target', 'steps'],
    };
    for (const prompt of ['Once upon a time', 'The dog said', '{']) {
      const r = await p.chat({ model: 'stories260K', messages: [{ role: 'user', content: prompt }], maxTokens: 80, format: { schema } }, opts);
      const parsed = JSON.parse(r.content) as Record<string, unknown>;
      expect(['walk', 'talk', 'rest']).toContain(parsed['action']);
      expect(typeof parsed['target']).toBe('string');
      expect(Number.isInteger(parsed['steps'])).toBe(true);
    }
  });

  it('refuses to hand back JSON cut off by maxTokens, and says how to fix it', async () => {
    // Free-form JSON from a story model rambles inside strings until the budget ends.
    const err = await p.chat({ model: 'stories260K', messages: [{ role: 'user', content: 'Tom had a ball' }], maxTokens: 40, format: 'json' }, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmProviderError);
    expect(err).toMatchObject({ kind: 'validation' });
    expect((err as Error).message).toMatch(/maxTokens \(40\).*maxLength/);
  });

  it('embeds text', async () => {
    const r = await p.embed({ model: 'stories260K', input: ['a cat', 'a dog'] }, opts);
    expect(r.embeddings).toHaveLength(2);
    expect(r.embeddings[0]!.length).toBeGreaterThan(0);
  });

  it('refuses tool calls with a validation error', async () => {
    const it = p.chatStream({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }], tools: [{ name: 't', parameters: {} }] }, opts);
    await expect(it[Symbol.asyncIterator]().next()).rejects.toMatchObject({ kind: 'validation' });
  });

  it('says plainly when the model file is missing', async () => {
    const missing = new EmbeddedProvider('embedded', { modelPath: '/nonexistent/model.gguf', threads: 1, contextSize: 256 });
    const err = await missing.chat({ model: 'x', messages: [{ role: 'user', content: 'x' }] }, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toContain('/nonexistent/model.gguf');
  });
});
