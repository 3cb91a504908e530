import type { ChatMessage, FinishReason, GatewayChatRequest, OutputFormat, ToolCall, Usage } from '@aiflock/core';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { LlmMessage, LlmTool } from '@aiflock/protocol';
import type { ApiContext } from '../../context.js';
import { parseInput } from '../../errors.js';
import { answerChat } from '../../llm-access.js';
import { route } from '../../route-doc.js';
import { ndjson } from './errors.js';

/** Ollama-compatible `/api/chat` and `/api/generate`: NDJSON streams by default, as Ollama does. */

const Options = z
  .object({ num_predict: z.number().int().min(1).optional(), temperature: z.number().optional(), stop: z.array(z.string()).optional() })
  .passthrough()
  .optional();
const Format = z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional();

export const OllamaChatRequest = z
  .object({
    model: z.string().min(1),
    messages: z.array(
      z
        .object({
          role: LlmMessage.shape.role,
          content: z.string().default(''),
          tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()) }) })).optional(),
          /** Which tool a `tool` message answers (Ollama names the tool, not a call id). */
          tool_name: z.string().optional(),
        })
        .passthrough(),
    ),
    tools: z.array(z.object({ type: z.literal('function'), function: LlmTool })).optional(),
    format: Format,
    stream: z.boolean().default(true),
    options: Options,
  })
  .passthrough();

export const OllamaGenerateRequest = z
  .object({
    model: z.string().min(1),
    prompt: z.string().min(1),
    system: z.string().optional(),
    format: Format,
    stream: z.boolean().default(true),
    options: Options,
  })
  .passthrough();

const toFormat = (f: z.infer<typeof Format>): OutputFormat | undefined => (f === undefined ? undefined : f === 'json' ? 'json' : { schema: f });
const doneReason = (r: FinishReason) => (r === 'length' ? 'length' : 'stop');
const counts = (u: Usage) => ({ prompt_eval_count: u.tokensIn, eval_count: u.tokensOut });
const ollamaCalls = (calls: readonly ToolCall[]) => calls.map((c) => ({ function: { name: c.name, arguments: c.arguments } }));

/**
 * Ollama's messages carry no call ids: a tool result names its tool. Give the assistant's
 * calls ids and point each result at the earliest unanswered call of its tool (or, unnamed,
 * the earliest unanswered one), so providers that pair results by id get them paired.
 */
function toMessages(messages: z.infer<typeof OllamaChatRequest>['messages']): ChatMessage[] {
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

export const ollamaChatRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const at = () => new Date().toISOString();

    app.post('/api/chat', route('llm:invoke', { summary: 'Ollama-compatible chat (NDJSON stream unless stream is false)', body: OllamaChatRequest }), async (req, reply) => {
      const body = parseInput(OllamaChatRequest, req.body, 'body');
      const request: GatewayChatRequest = {
        model: body.model,
        messages: toMessages(body.messages),
        tools: body.tools?.map((t) => t.function),
        format: toFormat(body.format),
        maxTokens: body.options?.num_predict,
        temperature: body.options?.temperature,
        stop: body.options?.stop,
      };
      const head = () => ({ model: body.model, created_at: at() });
      return answerChat(ctx, req, reply, request, body.stream
        ? {
            stream: true,
            render: {
              contentType: 'application/x-ndjson',
              item: (c) => {
                if (c.type === 'delta') return ndjson({ ...head(), message: { role: 'assistant', content: c.text }, done: false });
                if (c.type === 'tool_call') return ndjson({ ...head(), message: { role: 'assistant', content: '', tool_calls: ollamaCalls([c.call]) }, done: false });
                return ndjson({ ...head(), message: { role: 'assistant', content: '' }, done_reason: doneReason(c.finishReason), done: true, ...counts(c.usage) });
              },
              error: (e) => ndjson({ error: e.error.message }),
            },
          }
        : {
            stream: false,
            whole: (r) => ({
              ...head(),
              message: { role: 'assistant', content: r.content, ...(r.toolCalls.length ? { tool_calls: ollamaCalls(r.toolCalls) } : {}) },
              done_reason: doneReason(r.finishReason),
              done: true,
              ...counts(r.usage),
            }),
          });
    });

    app.post('/api/generate', route('llm:invoke', { summary: 'Ollama-compatible completion (NDJSON stream unless stream is false)', body: OllamaGenerateRequest }), async (req, reply) => {
      const body = parseInput(OllamaGenerateRequest, req.body, 'body');
      const request: GatewayChatRequest = {
        model: body.model,
        messages: [...(body.system ? [{ role: 'system' as const, content: body.system }] : []), { role: 'user' as const, content: body.prompt }],
        // An Ollama client asked for a completion: an Ollama upstream gets /api/generate too.
        completion: true,
        format: toFormat(body.format),
        maxTokens: body.options?.num_predict,
        temperature: body.options?.temperature,
        stop: body.options?.stop,
      };
      const head = () => ({ model: body.model, created_at: at() });
      return answerChat(ctx, req, reply, request, body.stream
        ? {
            stream: true,
            render: {
              contentType: 'application/x-ndjson',
              item: (c) => (c.type === 'delta' ? ndjson({ ...head(), response: c.text, done: false }) : c.type === 'done' ? ndjson({ ...head(), response: '', done_reason: doneReason(c.finishReason), done: true, ...counts(c.usage) }) : ''),
              error: (e) => ndjson({ error: e.error.message }),
            },
          }
        : { stream: false, whole: (r) => ({ ...head(), response: r.content, done_reason: doneReason(r.finishReason), done: true, ...counts(r.usage) }) });
    });
  };
