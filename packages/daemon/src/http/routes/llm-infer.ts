import type { FastifyPluginAsync } from 'fastify';
import { LlmInferRequest, LlmInferResult } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { llmRoute, callerGone, httpCaller, requireGateway, streamResponse } from '../llm-access.js';

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** `POST /v1/llm/infer` (the gateway's native route): final text, or tokens as server-sent events. */
export const llmInferRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.post('/llm/infer', llmRoute({ summary: 'Run a model (seed 3): the final text, or tokens as server-sent events with stream: true', body: LlmInferRequest, response: LlmInferResult, produces: 'text/event-stream' }), async (req, reply) => {
      const body = parseInput(LlmInferRequest, req.body, 'body');
      const gateway = requireGateway(ctx);
      const { tools, format, maxTokens, temperature, stop } = body.params;
      const request = {
        model: body.model,
        messages: typeof body.input === 'string' ? [{ role: 'user' as const, content: body.input }] : body.input,
        // Seed 3's `input` as a plain string is a prompt to complete, not a conversation.
        completion: typeof body.input === 'string' && !tools?.length,
        tools,
        format,
        maxTokens,
        temperature,
        stop,
        policy: body.policyOverride,
        correlationId: req.id,
        signal: callerGone(reply),
      };
      const caller = httpCaller(req);
      if (body.stream || req.headers.accept === 'text/event-stream') {
        return streamResponse(req, reply, gateway.chatStream(request, caller), 'text/event-stream', {
          item: (c) => (c.type === 'delta' ? sse('token', { text: c.text }) : c.type === 'tool_call' ? sse('tool_call', c.call) : sse('done', { model: c.model, provider: c.provider, finishReason: c.finishReason, usage: c.usage, costAiDollars: c.costAiDollars, correlationId: c.correlationId, fallbackUsed: c.fallbackUsed })),
          error: (e) => sse('error', e),
        });
      }
      const r = await gateway.chat(request, caller);
      const result: LlmInferResult = {
        output: r.content,
        toolCalls: r.toolCalls,
        model: body.model,
        provider: r.provider,
        finishReason: r.finishReason,
        usage: r.usage,
        costAiDollars: r.costAiDollars,
        correlationId: r.correlationId,
        fallbackUsed: r.fallbackUsed,
      };
      return result;
    });
  };
