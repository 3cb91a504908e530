import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { buildApp } from './http/app.js';
import type { ApiContext } from './http/context.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface ApiServer {
  app: FastifyInstance;
  /** Listen on the configured address; resolves to the API's URL. */
  listen(): Promise<string>;
}

/** The HTTP + WebSocket API, built but not yet listening (the shutdown sequence needs the app first). */
export function buildApi(config: Config, ctx: ApiContext, deps: { logger: Logger; metrics: Metrics }): ApiServer {
  if (config.auth.devBypassLoopback) deps.logger.warn('auth.devBypassLoopback is on: requests from loopback without credentials act as admin');
  // Its own origins are known only once it listens (the port may be 0).
  let ownOrigins: string[] = [];
  const { app } = buildApp(ctx, deps.logger, deps.metrics, {
    corsOrigins: config.api.corsOrigins,
    ownOrigins: () => ownOrigins,
    bodyLimitBytes: config.api.bodyLimitBytes,
    largeBodyLimitBytes: config.api.largeBodyLimitBytes,
    rateLimit: config.api.rateLimit,
    deniedAuditPerMinute: config.api.deniedAuditPerMinute,
    devBypassLoopback: config.auth.devBypassLoopback,
    ...(config.api.uiDir ? { uiDir: config.api.uiDir } : {}),
  });
  return {
    app,
    async listen() {
      try {
        await app.listen({ host: config.api.host, port: config.api.port });
      } catch (err) {
        if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
        throw new Error(`the API address ${config.api.host}:${config.api.port} is already in use by another program; give the daemon another port (AIFLOCK_API_PORT, or api.port in the config file) or stop that program`);
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.api.port;
      const apiUrl = `http://${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${port}`;
      ownOrigins = [apiUrl, `http://localhost:${port}`, `http://127.0.0.1:${port}`];
      return apiUrl;
    },
  };
}
