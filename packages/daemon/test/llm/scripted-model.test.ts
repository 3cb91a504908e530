import { afterEach, describe, expect, it } from 'vitest';
import type { ChatChunk, ChatMessage, LlmProvider } from '@aiflock/core';
import { startScriptedModel, type ScriptedModel } from '../../../../testkit/scripted-model.js';
import { OllamaProvider } from '../../src/adapters/llm/ollama.js';
import { OpenAiProvider } from '../../src/adapters/llm/openai.js';

/**
 * The scripted model the agent-loop tests use, through the gateway's real OpenAI and Ollama
 * adapters: native tool definitions go out, tool calls come back (streamed and not), and a
 * turn that is a function sees the tool result the adapter sent back.
 */
let model: ScriptedModel | undefined;
afterEach(async () => {
  await model?.close();
  model = undefined;
});

const tools = [{ name: 'files', description: 'files', parameters: { type: 'object', properties: { op: { type: 'string' } }, required: ['op'] } }];

async function collect(stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe.each(['openai', 'ollama'] as const)('scripted model over the %s wire', (wire) => {
  it('asks for a tool, then answers from the tool result it was sent', async () => {
    model = await startScriptedModel(wire, [
      { text: 'Looking.', toolCalls: [{ name: 'files', arguments: { op: 'list' } }] },
      (req) => ({ text: `saw: ${req.lastToolResult}` }),
      { text: 'plain answer' },
    ]);
    const p: LlmProvider = wire === 'openai' ? new OpenAiProvider('scripted', model.url) : new OllamaProvider('scripted', model.url);
    const messages: ChatMessage[] = [{ role: 'user', content: 'list the files' }];
    const first = await collect(p.chatStream({ model: 'm', messages, tools }, { timeoutMs: 5_000 }));
    const call = first.find((c): c is Extract<ChatChunk, { type: 'tool_call' }> => c.type === 'tool_call')!.call;
    expect(call).toMatchObject({ name: 'files', arguments: { op: 'list' } });
    expect(first.filter((c) => c.type === 'delta').map((c) => (c as { text: string }).text).join('')).toBe('Looking.');
    expect(first.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    expect(model.requests[0]!.tools).toEqual(['files']);

    messages.push({ role: 'assistant', content: 'Looking.', toolCalls: [call] }, { role: 'tool', content: 'a.txt\nb.txt', toolCallId: call.id });
    const second = await p.chat({ model: 'm', messages, tools }, { timeoutMs: 5_000 });
    expect(second).toMatchObject({ content: 'saw: a.txt\nb.txt', toolCalls: [] });
    // Ollama matches a tool result to its call by name; OpenAI by id.
    const sent = model.requests[1]!.raw.body.messages.at(-1);
    expect(sent).toMatchObject(wire === 'ollama' ? { role: 'tool', tool_name: 'files' } : { role: 'tool', tool_call_id: call.id });

    expect((await p.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { timeoutMs: 5_000 })).content).toBe('plain answer');
    expect(model.remaining).toBe(0);
    // Past the script: a clear failure, not a made-up answer.
    await expect(p.chat({ model: 'm', messages: [{ role: 'user', content: 'more' }] }, { timeoutMs: 5_000 })).rejects.toThrow(/the script has no turn left for chat request 4/);
  });
});
