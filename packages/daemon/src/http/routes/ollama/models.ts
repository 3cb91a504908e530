import { FlockError, type ModelCapability, type ModelRoute } from '@aiflock/core';
import type { FastifyPluginAsync } from 'fastify';
import { OllamaPsResponse, OllamaShowRequest, OllamaShowResponse, OllamaTagsResponse, OllamaVersionResponse } from '@aiflock/protocol';
import type { ApiContext } from '../../context.js';
import { parseInput } from '../../errors.js';
import { ollamaRoute } from './errors.js';
import { httpCaller } from '../../llm-access.js';

/**
 * Ollama's model routes over the gateway's registry: `/api/tags`, `/api/show`, `/api/ps` and
 * `/api/version`. A registry name (an alias such as `default`) is what an Ollama client sees
 * as a model; nothing is pulled or loaded, so sizes and digests are empty.
 */

/** The Ollama API these routes follow; clients gate features (tools, structured output, /api/embed) on it. */
export const OLLAMA_API_VERSION = '0.12.0';
/** Gateway models are never unloaded; Go's zero time, which Ollama itself sends for "no expiry". */
const NEVER = '0001-01-01T00:00:00Z';

type Model = ModelRoute & { name: string };

const details = (m: Model) => ({ parent_model: '', format: '', family: m.provider, families: [m.provider], parameter_size: '', quantization_level: '' });
const listed = (m: Model) => ({ name: m.name, model: m.name, size: 0, digest: '', details: details(m) });

/** Ollama's capability names for the registry's. */
const CAPABILITY: Partial<Record<ModelCapability, string>> = { chat: 'completion', tools: 'tools', embed: 'embedding' };

export const ollamaModelRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const models = async (req: Parameters<typeof httpCaller>[0]) => (ctx.llm.gateway ? ctx.llm.gateway.models(httpCaller(req)) : []);

    app.get('/api/tags', ollamaRoute({ summary: 'Models the caller may use, as Ollama lists local models', response: OllamaTagsResponse }), async (req) => ({
      models: (await models(req)).map((m) => ({ ...listed(m), modified_at: new Date(0).toISOString() })),
    }));

    app.post('/api/show', ollamaRoute({ summary: "A model's details and capabilities, as Ollama shows them", body: OllamaShowRequest, response: OllamaShowResponse }), async (req) => {
      const body = parseInput(OllamaShowRequest, req.body, 'body');
      const name = (body.model ?? body.name)!;
      const m = (await models(req)).find((x) => x.name === name);
      // Ollama's own wording, so clients that match on it (to offer a pull) still do.
      if (!m) throw new FlockError('llm_unknown_model', `model '${name}' not found`, { model: name });
      return {
        modelfile: '',
        parameters: '',
        template: '',
        details: details(m),
        // Clients read the window as `<general.architecture>.context_length`.
        model_info: { 'general.architecture': 'aiflock', 'general.basename': m.name, 'aiflock.context_length': m.contextWindow, 'aiflock.provider': m.provider },
        capabilities: m.capabilities.flatMap((c) => CAPABILITY[c] ?? []),
        modified_at: new Date(0).toISOString(),
      };
    });

    app.get('/api/ps', ollamaRoute({ summary: 'Models ready to answer now: those whose provider circuit is not open', response: OllamaPsResponse }), async (req) => {
      const breakers = ctx.llm.gateway?.breakerStates() ?? {};
      return {
        models: (await models(req)).filter((m) => breakers[m.provider] !== 'open').map((m) => ({ ...listed(m), expires_at: NEVER, size_vram: 0, context_length: m.contextWindow })),
      };
    });

    app.get('/api/version', ollamaRoute({ summary: 'The Ollama API version these routes follow', response: OllamaVersionResponse }), async () => ({ version: OLLAMA_API_VERSION }));
  };
