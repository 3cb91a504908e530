import { FlockError, type ChatMessage, type GatewayChatRequest, type ToolCall } from '@aiflock/core';
import type { FastifyPluginAsync } from 'fastify';
import type { z } from 'zod';
import { ChatCompletion, ChatCompletionRequest, EmbeddingsRequest, EmbeddingsResponse, ModelParams, OaModel, OaModelList, type OaContent } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { answerChat, httpCaller, llmRoute, requireGateway } from '../llm-access.js';
import { openAiResponsesRoutes } from './openai-responses.js';
import { outputFormat, parseArgs, toolDefinition } from './openai-wire.js';

/*
 * OpenAI-compatible routes, so the official `openai` client (and tools built on it) work
 * against the gateway unchanged. Only what the gateway can honour is accepted; unknown
 * fields that clients commonly send are ignored rather than rejected.
 */

function text(content: z.infer<typeof OaContent> | undefined): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => p.text ?? '').join('');
}

function toGateway(body: z.infer<typeof ChatCompletionRequest>): GatewayChatRequest {
  const messages: ChatMessage[] = body.messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: text(m.content),
    ...(m.tool_calls ? { toolCalls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: parseArgs(c.function.arguments) })) } : {}),
    ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}),
  }));
  const rf = body.response_format;
  return {
    model: body.model,
    messages,
    tools: body.tools?.map((t) => toolDefinition(t.function)),
    format: outputFormat(rf?.type === 'json_schema' ? { type: 'json_schema', schema: rf.json_schema.schema } : rf),
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    temperature: body.temperature ?? undefined,
    stop: body.stop == null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop],
  };
}

/** OpenAI's base64 embedding encoding (what its client asks for by default): little-endian float32. */
function float32Base64(v: number[]): string {
  const buf = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString('base64');
}

const oaToolCall = (c: ToolCall, index?: number) => ({ ...(index !== undefined ? { index } : {}), id: c.id, type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.arguments) } });

export const openAiRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    await app.register(openAiResponsesRoutes(ctx));

    app.post('/chat/completions', llmRoute({ summary: 'OpenAI-compatible chat completion (server-sent events when stream is true)', body: ChatCompletionRequest, response: ChatCompletion, produces: 'text/event-stream' }), async (req, reply) => {
      const body = parseInput(ChatCompletionRequest, req.body, 'body');
      const id = `chatcmpl-${req.id}`;
      const created = Math.floor(Date.now() / 1000);
      if (body.stream) {
        const base = { id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: null };
        const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
        let sentRole = false;
        let toolIndex = 0;
        const includeUsage = body.stream_options?.include_usage === true;
        return answerChat(ctx, req, reply, toGateway(body), {
          stream: true,
          render: {
            contentType: 'text/event-stream',
            item: (c) => {
              const role = sentRole ? {} : { role: 'assistant' as const };
              sentRole = true;
              if (c.type === 'delta') return frame({ ...base, choices: [{ index: 0, delta: { ...role, content: c.text }, logprobs: null, finish_reason: null }] });
              if (c.type === 'tool_call') return frame({ ...base, choices: [{ index: 0, delta: { ...role, tool_calls: [oaToolCall(c.call, toolIndex++)] }, logprobs: null, finish_reason: null }] });
              const last = frame({ ...base, choices: [{ index: 0, delta: role, logprobs: null, finish_reason: c.finishReason }] });
              const usage = { prompt_tokens: c.usage.tokensIn, completion_tokens: c.usage.tokensOut, total_tokens: c.usage.tokensIn + c.usage.tokensOut };
              return includeUsage ? last + frame({ ...base, choices: [], usage }) : last;
            },
            // OpenAI's own convention for a failure mid-stream: an `error` object as a data frame.
            error: (e) => frame({ error: { ...e.error, type: e.error.code } }),
            end: 'data: [DONE]\n\n',
          },
        });
      }
      return answerChat(ctx, req, reply, toGateway(body), {
        stream: false,
        whole: (r) => {
          void reply.header('x-aiflock-provider', r.provider);
          return {
            id,
            object: 'chat.completion',
            created,
            model: body.model,
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: r.toolCalls.length && !r.content ? null : r.content, refusal: null, ...(r.toolCalls.length ? { tool_calls: r.toolCalls.map((c) => oaToolCall(c)) } : {}) },
                logprobs: null,
                finish_reason: r.finishReason,
              },
            ],
            usage: { prompt_tokens: r.usage.tokensIn, completion_tokens: r.usage.tokensOut, total_tokens: r.usage.tokensIn + r.usage.tokensOut },
            system_fingerprint: null,
          };
        },
      });
    });

    app.post('/embeddings', llmRoute({ summary: 'OpenAI-compatible embeddings', body: EmbeddingsRequest, response: EmbeddingsResponse }), async (req) => {
      const body = parseInput(EmbeddingsRequest, req.body, 'body');
      const input = typeof body.input === 'string' ? [body.input] : body.input;
      const r = await requireGateway(ctx).embed({ model: body.model, input, correlationId: req.id }, httpCaller(req));
      return {
        object: 'list',
        model: body.model,
        data: r.embeddings.map((embedding, index) => ({ object: 'embedding', index, embedding: body.encoding_format === 'base64' ? float32Base64(embedding) : embedding })),
        usage: { prompt_tokens: r.usage.tokensIn, total_tokens: r.usage.tokensIn },
      };
    });

    app.get('/models', llmRoute({ summary: 'Models the caller may use', response: OaModelList }), async (req) => {
      const models = ctx.llm.gateway ? await ctx.llm.gateway.models(httpCaller(req)) : [];
      return { object: 'list', data: models.map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: 'aiflock', capabilities: m.capabilities, context_window: m.contextWindow })) };
    });

    app.get('/models/:model', llmRoute({ summary: 'One model', params: ModelParams, response: OaModel }), async (req) => {
      const { model } = parseInput(ModelParams, req.params, 'params');
      const m = ctx.llm.gateway ? (await ctx.llm.gateway.models(httpCaller(req))).find((x) => x.name === model) : undefined;
      if (!m) throw new FlockError('llm_unknown_model', `unknown model "${model}"`);
      return { id: m.name, object: 'model', created: 0, owned_by: 'aiflock' };
    });
  };
