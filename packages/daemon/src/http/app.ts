import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { FlockError } from '@aiflock/core';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { toApiError } from './errors.js';
import { agentRoutes } from './routes/agents.js';
import { auditRoutes } from './routes/audit.js';
import { backupRoutes } from './routes/backup.js';
import { contextRoutes } from './routes/context.js';
import { systemRoutes } from './routes/system.js';
import { taskRoutes } from './routes/tasks.js';
import type { ApiContext } from './context.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** The HTTP API: one root that wires single-concern route modules. */
export function buildApp(ctx: ApiContext, logger: Logger, metrics: Metrics): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: 2 * 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    if (reply.statusCode >= 500) req.log.error({ status: reply.statusCode, url: req.url }, 'request failed');
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toApiError(err, req.id);
    if (status >= 500) req.log.error({ err }, 'unhandled error');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = toApiError(new FlockError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`), req.id);
    void reply.status(status).send(body);
  });

  void app.register(systemRoutes(ctx, metrics));
  void app.register(agentRoutes(ctx), { prefix: '/v1' });
  void app.register(taskRoutes(ctx), { prefix: '/v1' });
  void app.register(auditRoutes(ctx), { prefix: '/v1' });
  void app.register(backupRoutes(ctx), { prefix: '/v1' });
  void app.register(contextRoutes(ctx), { prefix: '/v1' });
  return app;
}
