import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { LlmMessage, LlmTool } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { LLM_ROUTE, callerGone, httpCaller, requireGateway, streamResponse } from '../llm-access.js';

/** Ollama-compatible `/api/chat`, `/api/generate` and `/api/tags`, so Ollama clients can use the gateway. */

const OllamaChatRequest = z
  .object({
    model: z.string().min(1),
    messages: z.array(
      z.object({
        role: LlmMessage.shape.role,
        content: z.string(),
        tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()) }) })).optional(),
      }).passthrough(),
    ),
    tools: z.array(z.object({ type: z.literal('function'), function: LlmTool })).optional(),
    format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
    stream: z.boolean().default(true),
    options: z.object({ num_predict: z.number().int().min(1).optional(), temperature: z.number().optional(), stop: z.array(z.string()).optional() }).passthrough().optional(),
  })
  .passthrough();

const Options = z.object({ num_predict: z.number().int().min(1).optional(), temperature: z.number().optional(), stop: z.array(z.string()).optional() }).passthrough().optional();

const OllamaGenerateRequest = z
  .object({
    model: z.string().min(1),
    prompt: z.string().min(1),
    system: z.string().optional(),
    format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
    stream: z.boolean().default(true),
    options: Options,
  })
  .passthrough();

export const ollamaRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.post('/api/chat', { config: LLM_ROUTE }, async (req, reply) => {
      const body = parseInput(OllamaChatRequest, req.body, 'body');
      const gateway = requireGateway(ctx);
      const request = {
        model: body.model,
        messages: body.messages.map((m, i) => ({ role: m.role, content: m.content, ...(m.tool_calls ? { toolCalls: m.tool_calls.map((c, j) => ({ id: `call_${i}_${j}`, name: c.function.name, arguments: c.function.arguments })) } : {}) })),
        tools: body.tools?.map((t) => t.function),
        format: body.format === undefined ? undefined : body.format === 'json' ? ('json' as const) : { schema: body.format },
        maxTokens: body.options?.num_predict,
        temperature: body.options?.temperature,
        stop: body.options?.stop,
        correlationId: req.id,
        signal: callerGone(reply),
      };
      const at = () => new Date().toISOString();
      if (body.stream) {
        const line = (o: unknown) => `${JSON.stringify(o)}\n`;
        return streamResponse(req, reply, gateway.chatStream(request, httpCaller(req)), 'application/x-ndjson', {
          item: (c) => {
            if (c.type === 'delta') return line({ model: body.model, created_at: at(), message: { role: 'assistant', content: c.text }, done: false });
            if (c.type === 'tool_call') return line({ model: body.model, created_at: at(), message: { role: 'assistant', content: '', tool_calls: [{ function: { name: c.call.name, arguments: c.call.arguments } }] }, done: false });
            return line({ model: body.model, created_at: at(), message: { role: 'assistant', content: '' }, done_reason: c.finishReason === 'length' ? 'length' : 'stop', done: true, prompt_eval_count: c.usage.tokensIn, eval_count: c.usage.tokensOut });
          },
          error: (e) => line({ error: e.error.message }),
        });
      }
      const r = await gateway.chat(request, httpCaller(req));
      return {
        model: body.model,
        created_at: at(),
        message: { role: 'assistant', content: r.content, ...(r.toolCalls.length ? { tool_calls: r.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.arguments } })) } : {}) },
        done_reason: r.finishReason === 'length' ? 'length' : 'stop',
        done: true,
        prompt_eval_count: r.usage.tokensIn,
        eval_count: r.usage.tokensOut,
      };
    });

    app.post('/api/generate', { config: LLM_ROUTE }, async (req, reply) => {
      const body = parseInput(OllamaGenerateRequest, req.body, 'body');
      const gateway = requireGateway(ctx);
      const request = {
        model: body.model,
        messages: [...(body.system ? [{ role: 'system' as const, content: body.system }] : []), { role: 'user' as const, content: body.prompt }],
        // An Ollama client asked for a completion: an Ollama upstream gets /api/generate too.
        completion: true,
        format: body.format === undefined ? undefined : body.format === 'json' ? ('json' as const) : { schema: body.format },
        maxTokens: body.options?.num_predict,
        temperature: body.options?.temperature,
        stop: body.options?.stop,
        correlationId: req.id,
        signal: callerGone(reply),
      };
      const at = () => new Date().toISOString();
      const final = (usage: { tokensIn: number; tokensOut: number }, reason: string) => ({ done_reason: reason === 'length' ? 'length' : 'stop', done: true, prompt_eval_count: usage.tokensIn, eval_count: usage.tokensOut });
      if (body.stream) {
        const line = (o: unknown) => `${JSON.stringify(o)}\n`;
        return streamResponse(req, reply, gateway.chatStream(request, httpCaller(req)), 'application/x-ndjson', {
          item: (c) => (c.type === 'delta' ? line({ model: body.model, created_at: at(), response: c.text, done: false }) : c.type === 'done' ? line({ model: body.model, created_at: at(), response: '', ...final(c.usage, c.finishReason) }) : ''),
          error: (e) => line({ error: e.error.message }),
        });
      }
      const r = await gateway.chat(request, httpCaller(req));
      return { model: body.model, created_at: at(), response: r.content, ...final(r.usage, r.finishReason) };
    });

    app.get('/api/tags', { config: LLM_ROUTE }, async (req) => {
      const models = ctx.llm.gateway ? await ctx.llm.gateway.models(httpCaller(req)) : [];
      return { models: models.map((m) => ({ name: m.name, model: m.name, modified_at: new Date(0).toISOString(), size: 0, digest: '', details: { family: m.provider } })) };
    });
  };
