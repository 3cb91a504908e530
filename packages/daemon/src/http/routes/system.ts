import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Metrics } from '../../metrics.js';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';

const ShutdownRequest = z.object({ stopFlock: z.boolean().default(false) }).strict();

export const systemRoutes =
  (ctx: ApiContext, metrics: Metrics): FastifyPluginAsync =>
  async (app) => {
    /** The process is up. */
    app.get('/healthz', async () => ({ ok: true }));

    /** Store, bus and sandbox runtime all answer. */
    app.get('/readyz', async (_req, reply) => {
      const checks = await ctx.readiness();
      const ok = Object.values(checks).every((c) => c.ok);
      return reply.status(ok ? 200 : 503).send({ ok, checks });
    });

    app.get('/metrics', async (_req, reply) => {
      return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
    });

    app.get('/v1/status', async () => ctx.status());

    app.post('/v1/system/shutdown', async (req, reply) => {
      const { stopFlock } = parseInput(ShutdownRequest, req.body ?? {}, 'body');
      await reply.status(202).send({ ok: true, stopFlock });
      ctx.shutdown({ stopFlock });
    });
  };
