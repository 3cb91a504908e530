import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { FlockError } from '@aiflock/core';
import { LlmReloaded, LocalModelList, LocalModelParams, LocalModelsQuery, ModelDeleted, ModelPullProgress, ModelPullRequest } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/**
 * The local model server's models (`aiflock models list|pull|rm`) and reloading the gateway's
 * provider policy (`aiflock llm reload`), admin only. Not under `/v1/models`: that is the
 * OpenAI-compatible list of the gateway's registry, which callers with `llm:invoke` read.
 */
export const localModelRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const models = () => {
      if (!ctx.llm.models) throw new FlockError('not_ready', 'this control plane manages no local models');
      return ctx.llm.models;
    };

    app.get('/llm/models', route('admin', { summary: "The local model server's models (Ollama /api/tags), with the config's pins checked", query: LocalModelsQuery, response: LocalModelList, errors: ['llm_models_unmanaged', 'upstream_failed', 'upstream_timeout'] }), async (req) => {
      const { provider } = parseInput(LocalModelsQuery, req.query, 'query');
      return models().list(provider);
    });

    app.post(
      '/llm/models/pull',
      route('admin', { summary: 'Pull a model onto the local model server; progress as JSON lines (Ollama /api/pull), the last {status: "success", digest} or {error}', body: ModelPullRequest, response: ModelPullProgress, produces: 'application/x-ndjson', errors: ['llm_models_unmanaged', 'llm_local_model_not_found', 'upstream_failed', 'upstream_timeout'] }),
      async (req, reply) => {
        const { name, provider } = parseInput(ModelPullRequest, req.body, 'body');
        const stop = new AbortController();
        // The client went away (Ctrl-C on `models pull`): stop pulling.
        reply.raw.on('close', () => stop.abort());
        const progress = models().pull(name, provider, stop.signal);
        // Errors up to the manifest (no such provider, no such model: Ollama says so right after
        // "pulling manifest") are answered as errors with their status, not inside a stream.
        const head = await audited(ctx.audit, req, 'llm.model.pull', `model/${name}`, async () => {
          const read: ModelPullProgress[] = [];
          for (let r = await progress.next(); !r.done; r = await progress.next()) {
            read.push(r.value);
            if (r.value.status !== 'pulling manifest') break;
          }
          return read;
        });
        async function* lines() {
          for (const p of head) yield `${JSON.stringify(p)}\n`;
          try {
            for await (const p of progress) yield `${JSON.stringify(p)}\n`;
          } catch (err) {
            yield `${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`;
          }
        }
        return reply.type('application/x-ndjson').send(Readable.from(lines()));
      },
    );

    app.delete('/llm/models/:name', route('admin', { summary: 'Remove a model from the local model server (Ollama /api/delete)', params: LocalModelParams, query: LocalModelsQuery, response: ModelDeleted, errors: ['llm_models_unmanaged', 'llm_local_model_not_found', 'upstream_failed', 'upstream_timeout'] }), async (req) => {
      const { name } = parseInput(LocalModelParams, req.params, 'params');
      const { provider } = parseInput(LocalModelsQuery, req.query, 'query');
      return audited(ctx.audit, req, 'llm.model.remove', `model/${name}`, () => models().remove(name, provider));
    });

    app.post('/llm/reload', route('admin', { summary: "Re-read the config file's llm section and apply it (providers, models, policy) without a restart", body: null, response: LlmReloaded, errors: ['not_ready'] }), async (req) => {
      const reload = ctx.llm.reload;
      if (!reload) throw new FlockError('not_ready', 'this control plane cannot reload its LLM configuration');
      return audited(ctx.audit, req, 'llm.reload', 'llm', reload, (r) => ({ details: { providers: r.providers, models: r.models } }));
    });
  };
