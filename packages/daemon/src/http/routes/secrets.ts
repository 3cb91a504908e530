import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { SetSecretRequest } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';

const NameParams = z.object({ name: z.string().min(1).max(200) });
// Admin only: the auth layer reads routeOptions.config.scope.
const admin = { config: { scope: 'admin' } };

/** Named secrets: set, list names, remove. There is deliberately no route that reads a value. */
export const secretRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/secrets', admin, async () => ({ secrets: await ctx.secrets.list() }));

    app.put('/secrets/:name', admin, async (req, reply) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const { value } = parseInput(SetSecretRequest, req.body, 'body');
      const out = await ctx.secrets.set(name, value);
      return reply.status(out.created ? 201 : 200).send(out.secret);
    });

    app.delete('/secrets/:name', admin, async (req, reply) => {
      await ctx.secrets.remove(parseInput(NameParams, req.params, 'params').name);
      return reply.status(204).send();
    });
  };
