import type { FastifyPluginAsync } from 'fastify';
import { FlockError } from '@aiflock/core';
import type { Metrics } from '../../metrics.js';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';
import { BusCredentialsId, BusCredentialsRequest, Health, IssuedBusCredentials, LogLevelBody, OperatorCreds, OperatorCredsList, Readiness, ShutdownRequest, ShutdownResponse, SystemStatus, InstanceStatsList } from '@aiflock/protocol';

export const systemRoutes =
  (ctx: ApiContext, metrics: Metrics): FastifyPluginAsync =>
  async (app) => {
    // /metrics needs `metrics:read`: it names agents and shows load, which is reconnaissance for
    // an attacker, and Prometheus sends a bearer token with `authorization.credentials_file`.
    /** The process is up. */
    app.get('/healthz', route('public', { summary: 'The process is up', response: Health }), async () => ({ ok: true }));

    /** Store, bus and sandbox runtime all answer. */
    app.get('/readyz', route('public', { summary: 'Store, bus and runtime answer (503 when one does not)', response: Readiness, errors: ['not_ready'] }), async (_req, reply) => {
      const checks = await ctx.readiness();
      const ok = Object.values(checks).every((c) => c.ok);
      return reply.status(ok ? 200 : 503).send({ ok, checks });
    });

    app.get('/metrics', route('metrics:read', { summary: 'Prometheus metrics (text exposition format)', produces: 'text/plain' }), async (_req, reply) => {
      return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
    });

    app.get('/v1/status', route('agents:read', { summary: 'What `aiflock status` shows', response: SystemStatus }), async () => ctx.status());

    app.get('/v1/instances/stats', route('agents:read', { summary: "Each live instance's CPU, memory, network, processes and restarts, from its runtime (`aiflock stats`)", response: InstanceStatsList }), async () => {
      if (!ctx.instanceStats) throw new FlockError('not_ready', 'this daemon has no sandbox runtime to measure instances');
      return { instances: await ctx.instanceStats() };
    });

    /** A `.creds` file for `nats` CLI and other operator tools, separate from the control plane's own. */
    app.post('/v1/system/bus-credentials', route('admin', { summary: 'Issue operator bus credentials (audited)', body: BusCredentialsRequest, response: IssuedBusCredentials, errors: ['bus_auth_disabled'] }), async (req, reply) => {
      const { name, ttlSeconds } = parseInput(BusCredentialsRequest, req.body ?? {}, 'body');
      if (!ctx.busAdminCredentials) throw new FlockError('bus_auth_disabled', 'the bus runs without authentication (nats.auth: none); there are no credentials to issue');
      const operators = ctx.busAdminCredentials;
      const issued = await audited(ctx.audit, req, 'bus.credentials.issue', `bus-user/${name}`, () => operators.issue(name, ttlSeconds), (r) => ({ details: { ttlSeconds, id: r.id } }));
      req.log.info({ name, ttlSeconds, id: issued.id }, 'issued operator bus credentials');
      return reply.header('cache-control', 'no-store').send({ id: issued.id, name, ttlSeconds, expiresAt: issued.expiresAt, creds: issued.creds });
    });

    app.get('/v1/system/bus-credentials', route('admin', { summary: 'Operator bus credentials issued and not yet expired (never the credentials themselves)', response: OperatorCredsList, errors: ['bus_auth_disabled'] }), async () => {
      if (!ctx.busAdminCredentials) throw new FlockError('bus_auth_disabled', 'the bus runs without authentication (nats.auth: none); there are no credentials to list');
      return { credentials: await ctx.busAdminCredentials.list() };
    });

    /** Revoke before they expire: the servers cut their connections and refuse them from then on. */
    app.post('/v1/system/bus-credentials/:id/revoke', route('admin', { summary: 'Revoke operator bus credentials (audited)', params: BusCredentialsId, body: null, response: OperatorCreds, errors: ['bus_auth_disabled', 'bus_credentials_not_found'] }), async (req) => {
      const { id } = parseInput(BusCredentialsId, req.params, 'params');
      const operators = ctx.busAdminCredentials;
      if (!operators) throw new FlockError('bus_auth_disabled', 'the bus runs without authentication (nats.auth: none); there are no credentials to revoke');
      return audited(ctx.audit, req, 'bus.credentials.revoke', `bus-user/${id}`, async () => {
        const record = await operators.revoke(id);
        if (!record) throw new FlockError('bus_credentials_not_found', `no operator bus credentials with id "${id}" (list them with: aiflock nats list-creds)`, { id });
        return record;
      });
    });

    app.get('/v1/system/log-level', route('admin', { summary: 'The current log level', response: LogLevelBody }), async () => ({
      level: ctx.logLevel.get(),
    }));

    app.put('/v1/system/log-level', route('admin', { summary: 'Change the log level without a restart', body: LogLevelBody, response: LogLevelBody }), async (req) => {
      const { level } = parseInput(LogLevelBody, req.body, 'body');
      const before = ctx.logLevel.get();
      ctx.logLevel.set(level);
      app.log.level = level;
      req.log.warn({ actor: req.actor?.id, from: before, to: level }, 'log level changed');
      return { level };
    });

    app.post('/v1/system/shutdown', route('admin', { summary: 'Stop the daemon (and with stopFlock, every instance and NATS)', body: ShutdownRequest, response: ShutdownResponse, status: 202 }), async (req, reply) => {
      const { stopFlock } = parseInput(ShutdownRequest, req.body ?? {}, 'body');
      await reply.status(202).send({ ok: true, stopFlock });
      ctx.shutdown({ stopFlock });
    });
  };
