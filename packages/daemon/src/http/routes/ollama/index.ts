import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../../context.js';
import { ollamaChatRoutes } from './chat.js';
import { ollamaEmbedRoutes } from './embed.js';
import { ollamaErrorShape } from './errors.js';
import { ollamaModelRoutes } from './models.js';

/** The Ollama-compatible API under `/api`, so Ollama clients (the official `ollama` npm client among them) use the gateway. */
export const ollamaRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // Registered first: the hook covers every route of this plugin, errors included.
    ollamaErrorShape(app);
    await app.register(ollamaChatRoutes(ctx));
    await app.register(ollamaModelRoutes(ctx));
    await app.register(ollamaEmbedRoutes(ctx));
  };
