import type { ChatMessage, FinishReason, GatewayChatRequest, GatewayChatResult, GatewayChunk, OutputFormat, ToolCall, Usage } from '@aiflock/core';
import type { FastifyPluginAsync } from 'fastify';
import { OllamaChatRequest, OllamaChatResponse, OllamaGenerateRequest, OllamaGenerateResponse, type OllamaFormat, type OllamaOptions } from '@aiflock/protocol';
import type { ApiContext } from '../../context.js';
import { parseInput } from '../../errors.js';
import { answerChat, type StreamRender } from '../../llm-access.js';
import { ndjson, ollamaRoute } from './errors.js';

/** Ollama-compatible `/api/chat` and `/api/generate`: NDJSON streams by default, as Ollama does. */

const toFormat = (f: OllamaFormat): OutputFormat | undefined => (f === undefined ? undefined : f === 'json' ? 'json' : { schema: f });
const doneReason = (r: FinishReason) => (r === 'length' ? 'length' : 'stop');
const counts = (u: Usage) => ({ prompt_eval_count: u.tokensIn, eval_count: u.tokensOut });
const ollamaCalls = (calls: readonly ToolCall[]) => calls.map((c) => ({ function: { name: c.name, arguments: c.arguments } }));

/**
 * Ollama's messages carry no call ids: a tool result names its tool. Give the assistant's
 * calls ids and point each result at the earliest unanswered call of its tool (or, unnamed,
 * the earliest unanswered one), so providers that pair results by id get them paired.
 */
function toMessages(messages: OllamaChatRequest['messages']): ChatMessage[] {
  let open: ToolCall[] = [];
  return messages.map((m, i) => {
    if (m.tool_calls) {
      const toolCalls = m.tool_calls.map((c, j) => ({ id: `call_${i}_${j}`, name: c.function.name, arguments: c.function.arguments }));
      open = [...toolCalls];
      return { role: m.role, content: m.content, toolCalls };
    }
    if (m.role === 'tool') {
      const answered = open.find((c) => m.tool_name === undefined || c.name === m.tool_name);
      open = open.filter((c) => c !== answered);
      return { role: m.role, content: m.content, ...(answered ? { toolCallId: answered.id } : {}) };
    }
    return { role: m.role, content: m.content };
  });
}

/** Sampling options, taken the same way by both routes. */
const sampling = (b: { format?: OllamaFormat; options?: OllamaOptions }) => ({
  format: toFormat(b.format),
  maxTokens: b.options?.num_predict,
  temperature: b.options?.temperature,
  stop: b.options?.stop,
});

/** Ollama's two ways of answering: an NDJSON line per chunk (none for `null`), or one whole object. */
function ollamaAnswer<W>(stream: boolean, line: (c: GatewayChunk) => object | null, whole: (r: GatewayChatResult) => W) {
  if (!stream) return { stream: false as const, whole };
  const render: StreamRender = { contentType: 'application/x-ndjson', item: (c) => {
      const o = line(c);
      return o === null ? '' : ndjson(o);
    }, error: (e) => ndjson({ error: e.error.message }) };
  return { stream: true as const, render };
}

export const ollamaChatRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const at = () => new Date().toISOString();

    app.post('/api/chat', ollamaRoute({ summary: 'Ollama-compatible chat (NDJSON stream unless stream is false)', body: OllamaChatRequest, response: OllamaChatResponse, produces: 'application/x-ndjson' }), async (req, reply) => {
      const body = parseInput(OllamaChatRequest, req.body, 'body');
      const request: GatewayChatRequest = { model: body.model, messages: toMessages(body.messages), tools: body.tools?.map((t) => t.function), ...sampling(body) };
      const message = (content: string, calls: readonly ToolCall[] = []) => ({ model: body.model, created_at: at(), message: { role: 'assistant', content, ...(calls.length ? { tool_calls: ollamaCalls(calls) } : {}) } });
      const last = (content: string, calls: readonly ToolCall[], reason: FinishReason, usage: Usage) => ({ ...message(content, calls), done_reason: doneReason(reason), done: true, ...counts(usage) });
      const line = (c: GatewayChunk) => (c.type === 'delta' ? { ...message(c.text), done: false } : c.type === 'tool_call' ? { ...message('', [c.call]), done: false } : last('', [], c.finishReason, c.usage));
      return answerChat(ctx, req, reply, request, ollamaAnswer(body.stream, line, (r) => last(r.content, r.toolCalls, r.finishReason, r.usage)));
    });

    app.post('/api/generate', ollamaRoute({ summary: 'Ollama-compatible completion (NDJSON stream unless stream is false)', body: OllamaGenerateRequest, response: OllamaGenerateResponse, produces: 'application/x-ndjson' }), async (req, reply) => {
      const body = parseInput(OllamaGenerateRequest, req.body, 'body');
      const request: GatewayChatRequest = {
        model: body.model,
        messages: [...(body.system ? [{ role: 'system' as const, content: body.system }] : []), { role: 'user' as const, content: body.prompt }],
        // An Ollama client asked for a completion: an Ollama upstream gets /api/generate too.
        completion: true,
        ...sampling(body),
      };
      const response = (text: string) => ({ model: body.model, created_at: at(), response: text });
      const last = (text: string, reason: FinishReason, usage: Usage) => ({ ...response(text), done_reason: doneReason(reason), done: true, ...counts(usage) });
      const line = (c: GatewayChunk) => (c.type === 'delta' ? { ...response(c.text), done: false } : c.type === 'done' ? last('', c.finishReason, c.usage) : null);
      return answerChat(ctx, req, reply, request, ollamaAnswer(body.stream, line, (r) => last(r.content, r.finishReason, r.usage)));
    });
  };
