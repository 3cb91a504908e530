import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { FlockError } from '@aiflock/core';
import type { Metrics } from '../../metrics.js';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';

const BusCredentialsRequest = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1-64 letters, digits, dots, dashes or underscores').default('operator'),
    ttlSeconds: z.number().int().min(60).max(30 * 24 * 3600).default(3600),
  })
  .strict();

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

    /** A `.creds` file for `nats` CLI and other operator tools, separate from the control plane's own. */
    app.post('/v1/system/bus-credentials', { config: { scope: 'admin' } }, async (req, reply) => {
      const { name, ttlSeconds } = parseInput(BusCredentialsRequest, req.body ?? {}, 'body');
      if (!ctx.busAdminCredentials) throw new FlockError('bus_auth_disabled', 'the bus runs without authentication (nats.auth: none); there are no credentials to issue');
      const issue = ctx.busAdminCredentials;
      const creds = await audited(ctx.audit, req, 'bus.credentials.issue', `bus-user/${name}`, () => issue(name, ttlSeconds), () => ({ details: { ttlSeconds } }));
      req.log.info({ name, ttlSeconds }, 'issued operator bus credentials');
      return reply.header('cache-control', 'no-store').send({ name, ttlSeconds, creds });
    });

    app.post('/v1/system/shutdown', async (req, reply) => {
      const { stopFlock } = parseInput(ShutdownRequest, req.body ?? {}, 'body');
      await reply.status(202).send({ ok: true, stopFlock });
      ctx.shutdown({ stopFlock });
    });
  };
