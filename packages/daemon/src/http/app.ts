import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import fp from 'fastify-plugin';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { FlockError } from '@aiflock/core';
import { enforceAuth, installAuth, type RegisteredRoute } from './auth.js';
import { deniedAuditor } from './denied-audit.js';
import { trackLiveSockets } from './live-sockets.js';
import { checkWebSocketOrigin } from './ws-origin.js';
import { buildOpenApi } from './openapi.js';
import { authRoutes } from './routes/auth.js';
import { jobRoutes } from './routes/jobs.js';
import { VERSION } from '../version.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { toApiError } from './errors.js';
import { agentRoutes } from './routes/agents.js';
import { agentExecRoutes } from './routes/agent-exec.js';
import { agentRevisionRoutes } from './routes/agent-revisions.js';
import { broadcastRoutes } from './routes/broadcast.js';
import { auditRoutes } from './routes/audit.js';
import { logRoutes } from './routes/logs.js';
import { backupRoutes } from './routes/backup.js';
import { llmInferRoutes } from './routes/llm-infer.js';
import { localModelRoutes } from './routes/local-models.js';
import { ollamaRoutes } from './routes/ollama/index.js';
import { openAiRoutes } from './routes/openai-compat.js';
import { secretRoutes } from './routes/secrets.js';
import { boardRoutes } from './routes/board.js';
import { boardStreamRoutes } from './routes/board-stream.js';
import { chatRoutes } from './routes/chat.js';
import { economyRoutes } from './routes/economy.js';
import { paymentRoutes } from './routes/payments.js';
import { contextRoutes } from './routes/context.js';
import { systemRoutes } from './routes/system.js';
import { nodeRoutes } from './routes/nodes.js';
import { taskRoutes } from './routes/tasks.js';
import { worldRoutes } from './routes/world.js';
import { worldStreamRoutes } from './routes/world-stream.js';
import { worldSightRoutes } from './routes/world-sight.js';
import { webUiRoutes } from './web-ui.js';
import { mcpRoutes } from '../mcp/routes.js';
import type { ApiContext } from './context.js';
import { installHttpSpans } from '../telemetry/http-spans.js';
import { enforceDeclaredStatuses } from './status-contract.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;
/** MCP sessions close after 30 idle minutes; a token holds at most 16 (its least recently used closes first). */
const MCP_SESSIONS = { idleMs: 30 * 60_000, perOwner: 16 };
const REFUSALS = new Set(['unauthenticated', 'forbidden', 'csrf_failed', 'origin_forbidden', 'rate_limited']);

export interface HttpOptions {
  /** Browser origins CORS allows; `*` allows any (only when configured). */
  corsOrigins: readonly string[];
  /** The daemon's own origins, known once it listens. */
  ownOrigins: () => readonly string[];
  bodyLimitBytes: number;
  largeBodyLimitBytes: number;
  rateLimit: { max: number; windowMs: number };
  /** Denied (401/403) requests audited per token or source address per minute; the rest are only counted. Default 120. */
  deniedAuditPerMinute?: number;
  devBypassLoopback: boolean;
  /** Where the built web UI is; `false` serves no UI (the API alone); unset, the one `npm run build` makes. */
  uiDir?: string | false;
  /** Tests: a route answering a success status its document does not declare fails with 500 (else it is only logged). */
  strictStatuses?: boolean;
}

/** The HTTP API: one root that wires single-concern route modules. */
export function buildApp(ctx: ApiContext, logger: Logger, metrics: Metrics, opts: HttpOptions): { app: FastifyInstance; routes: readonly RegisteredRoute[] } {
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: opts.bodyLimitBytes,
    requestIdHeader: false,
    // Fastify's own refusals (a URL that is not valid percent-encoding) in the API's error shape.
    frameworkErrors: (err, req, reply) => {
      const { status, body } = toApiError(new FlockError('validation_failed', err.message, { field: 'url' }), req.id);
      // The option's reply type is generic over schemas this root does not have.
      void (reply as FastifyReply).status(status).send(body);
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  installHttpSpans(app);
  enforceDeclaredStatuses(app, opts.strictStatuses === true);
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    if (reply.statusCode >= 500) req.log.error({ status: reply.statusCode, url: req.url }, 'request failed');
    // One access line per request with the fields operators asked for (request id, actor, job id, latency, outcome); debug, so busy flocks can turn it on at runtime.
    const jobId = (req.params as Record<string, unknown> | undefined)?.['id'];
    req.log.debug(
      {
        requestId: req.id,
        actor: req.actor?.id,
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        latencyMs: Math.round(reply.elapsedTime * 10) / 10,
        outcome: reply.statusCode < 400 ? 'ok' : reply.statusCode < 500 ? 'refused' : 'error',
        ...(typeof jobId === 'string' && jobId.startsWith('t_') ? { jobId } : {}),
      },
      'request',
    );
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toApiError(err, req.id);
    if (status >= 500) req.log.error({ err }, 'unhandled error');
    if (REFUSALS.has(body.error.code)) {
      metrics.refusals.inc({ code: body.error.code });
      req.log.info({ code: body.error.code, route: req.routeOptions.url, actor: req.actor?.id }, 'request refused');
    }
    // Quota and rate refusals say when to come back (RFC 9110 Retry-After, in seconds).
    const retryAfterMs = err instanceof FlockError ? (err.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs : undefined;
    if (status === 429 && typeof retryAfterMs === 'number') void reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = toApiError(new FlockError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`), req.id);
    void reply.status(status).send(body);
  });

  // CORS first: it answers preflights before authentication (browsers send no credentials on them).
  const anyOrigin = opts.corsOrigins.includes('*');
  void app.register(cors, {
    origin: (origin, cb) => cb(null, origin === undefined || anyOrigin || opts.corsOrigins.includes(origin) || opts.ownOrigins().includes(origin)),
    // Cookies cross origins only to named origins, never under a wildcard.
    credentials: !anyOrigin,
    // MCP clients in a browser (the MCP Inspector) send and read the streamable HTTP transport's headers.
    allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-csrf-token', 'x-request-id', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'],
    exposedHeaders: ['x-request-id', 'retry-after', 'mcp-session-id'],
  });
  void app.register(cookie);
  // Before auth, so its hooks see refused upgrades too and close their sockets.
  void app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // After the WebSocket plugin, whose hooks then close the sockets of refused upgrades.
  void app.register(fp(async (root) => checkWebSocketOrigin(root, opts)));
  const routes: RegisteredRoute[] = [];
  void app.register(
    fp(async (root) => {
      installAuth(root, ctx.auth, { devBypassLoopback: opts.devBypassLoopback }, routes);
    }),
  );
  // Per token (per source address without one): after authentication (preParsing runs after
  // every onRequest hook), before the body is read; refused requests count too.
  void app.register(rateLimit, {
    hook: 'preParsing',
    max: opts.rateLimit.max,
    timeWindow: opts.rateLimit.windowMs,
    keyGenerator: (req) => (req.actor ? `token:${req.actor.id}` : `addr:${req.ip}`),
    errorResponseBuilder: (req, rl) =>
      new FlockError('rate_limited', `more than ${rl.max} requests in ${opts.rateLimit.windowMs / 1000}s from ${req.actor ? `token ${req.actor.id}` : req.ip}; retry in ${rl.after}`, {
        max: rl.max,
        windowMs: opts.rateLimit.windowMs,
        retryAfterSeconds: Math.ceil(rl.ttl / 1000),
      }),
  });

  // After the rate limiter: refusals it let through are audited, then answered 401/403.
  void app.register(
    fp(async (root) => {
      enforceAuth(root, deniedAuditor(ctx.audit, { perMinute: opts.deniedAuditPerMinute ?? 120, onSuppressed: () => metrics.refusals.inc({ code: 'denied_audit_suppressed' }) }));
    }),
  );

  void app.register(
    fp(async (root) => {
      trackLiveSockets(root, ctx.auth);
    }),
  );

  const limits = { largeBody: opts.largeBodyLimitBytes };
  void app.register(systemRoutes(ctx, metrics));
  void app.register(agentRoutes(ctx, limits), { prefix: '/v1' });
  void app.register(agentRevisionRoutes(ctx), { prefix: '/v1' });
  void app.register(nodeRoutes(ctx), { prefix: '/v1' });
  void app.register(agentExecRoutes(ctx), { prefix: '/v1' });
  void app.register(broadcastRoutes(ctx), { prefix: '/v1' });
  void app.register(taskRoutes(ctx, limits), { prefix: '/v1' });
  void app.register(jobRoutes(ctx, limits), { prefix: '/v1' });
  void app.register(authRoutes(ctx), { prefix: '/v1' });
  void app.register(auditRoutes(ctx), { prefix: '/v1' });
  void app.register(logRoutes(ctx), { prefix: '/v1' });
  void app.register(backupRoutes(ctx), { prefix: '/v1' });
  void app.register(llmInferRoutes(ctx), { prefix: '/v1' });
  void app.register(localModelRoutes(ctx), { prefix: '/v1' });
  void app.register(openAiRoutes(ctx), { prefix: '/v1' });
  void app.register(ollamaRoutes(ctx));
  void app.register(secretRoutes(ctx), { prefix: '/v1' });
  void app.register(economyRoutes(ctx), { prefix: '/v1' });
  void app.register(boardRoutes(ctx), { prefix: '/v1' });
  void app.register(boardStreamRoutes(ctx), { prefix: '/v1' });
  void app.register(chatRoutes(ctx), { prefix: '/v1' });
  void app.register(paymentRoutes(ctx), { prefix: '/v1' });
  void app.register(contextRoutes(ctx), { prefix: '/v1' });
  void app.register(worldRoutes(ctx), { prefix: '/v1' });
  void app.register(worldStreamRoutes(ctx), { prefix: '/v1' });
  void app.register(worldSightRoutes(ctx), { prefix: '/v1' });
  void app.register(mcpRoutes({ origins: opts, sessions: MCP_SESSIONS, bodyLimit: opts.largeBodyLimitBytes, registry: metrics.registry }), { prefix: '/v1' });
  void app.register(async (api) => {
    let doc: unknown;
    api.get('/v1/openapi.json', { config: { scope: 'public', doc: { summary: 'This document', produces: 'application/vnd.oai.openapi+json' } } }, async () => (doc ??= buildOpenApi(routes, VERSION)));
  });
  if (opts.uiDir !== false) void app.register(webUiRoutes(opts.uiDir));
  return { app, routes };
}
