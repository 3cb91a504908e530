import { FlockError } from '@aiflock/core';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { OllamaEmbedRequest, OllamaEmbedResponse, OllamaLegacyEmbedRequest, OllamaLegacyEmbedResponse } from '@aiflock/protocol';
import type { ApiContext } from '../../context.js';
import { parseInput } from '../../errors.js';
import { ollamaRoute } from './errors.js';
import { httpCaller, requireGateway } from '../../llm-access.js';

/**
 * Ollama's embedding routes through the gateway's embed call (the path `/v1/embeddings` and
 * the context plane take), so entitlements, failover and usage accounting apply as to chat.
 */

/** Ollama's `/api/embed` answers unit vectors, so a dot product is the cosine. */
function unit(v: readonly number[]): number[] {
  const norm = Math.hypot(...v);
  return norm > 0 ? v.map((x) => x / norm) : [...v];
}

export const ollamaEmbedRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const embed = (req: FastifyRequest, model: string, input: string[]) => requireGateway(ctx).embed({ model, input, correlationId: req.id }, httpCaller(req));

    app.post('/api/embed', ollamaRoute({ summary: 'Embed one text or several, as Ollama does', body: OllamaEmbedRequest, response: OllamaEmbedResponse }), async (req) => {
      const body = parseInput(OllamaEmbedRequest, req.body, 'body');
      const started = process.hrtime.bigint();
      const r = await embed(req, body.model, typeof body.input === 'string' ? [body.input] : body.input);
      const got = r.embeddings[0]?.length ?? 0;
      // Cutting a vector short is only meaningful for models trained for it; say so rather than guess.
      if (body.dimensions !== undefined && body.dimensions !== got) throw new FlockError('llm_capability_unsupported', `model "${body.model}" embeds in ${got} dimensions; dimensions=${body.dimensions} cannot be honoured`, { model: body.model, dimensions: got });
      return { model: body.model, embeddings: r.embeddings.map(unit), total_duration: Number(process.hrtime.bigint() - started), load_duration: 0, prompt_eval_count: r.usage.tokensIn };
    });

    app.post('/api/embeddings', ollamaRoute({ summary: "Embed one prompt (Ollama's older route; vectors as the model gives them)", body: OllamaLegacyEmbedRequest, response: OllamaLegacyEmbedResponse }), async (req) => {
      const body = parseInput(OllamaLegacyEmbedRequest, req.body, 'body');
      const r = await embed(req, body.model, [body.prompt]);
      return { embedding: r.embeddings[0] ?? [] };
    });
  };
