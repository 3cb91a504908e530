import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { AgentName, DeployRequest, ScaleRequest } from '@aiflock/protocol';
import { manifestJsonSchema } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { followLogs, logLine } from '../follow.js';

const NameParams = z.object({ name: AgentName });
const LogsQuery = z
  .object({
    follow: z.enum(['true', 'false', '1', '0']).optional(),
    tail: z.coerce.number().int().min(0).max(10_000).default(200),
  })
  .strict();

export const agentRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/schemas/agent-manifest.json', async () => manifestJsonSchema());

    app.get('/agents', async () => ({ agents: await ctx.deployments.list() }));

    app.post('/agents', async (req, reply) => {
      const body = parseInput(DeployRequest, req.body, 'body');
      const out = await ctx.deployments.deploy(body.manifest, body.filename);
      return reply.status(out.changed ? 201 : 200).send(out);
    });

    app.get('/agents/:name', async (req) => ctx.deployments.get(parseInput(NameParams, req.params, 'params').name));

    app.post('/agents/:name/scale', async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      return ctx.deployments.scale(name, parseInput(ScaleRequest, req.body, 'body').replicas);
    });

    app.post('/agents/:name/stop', async (req) => ctx.deployments.stop(parseInput(NameParams, req.params, 'params').name));

    // Kill switch (admin only; the auth layer reads routeOptions.config.scope).
    const admin = { config: { scope: 'admin' } };
    app.post('/agents/:name/quarantine', admin, async (req) => ctx.killSwitch.quarantine(parseInput(NameParams, req.params, 'params').name));
    app.post('/agents/:name/release', admin, async (req) => ctx.killSwitch.release(parseInput(NameParams, req.params, 'params').name));
    app.post('/agents/:name/kill', admin, async (req) => ctx.killSwitch.kill(parseInput(NameParams, req.params, 'params').name));

    app.delete('/agents/:name', async (req, reply) => {
      await ctx.deployments.remove(parseInput(NameParams, req.params, 'params').name);
      return reply.status(204).send();
    });

    app.get('/agents/:name/logs', async (req, reply) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const q = parseInput(LogsQuery, req.query, 'query');
      await ctx.deployments.require(name);
      if (q.follow === 'true' || q.follow === '1') {
        return followLogs(req, reply, ctx.store, { agent: name, backlog: q.tail }, async () => false);
      }
      const lines = await ctx.store.logs.list({ agent: name, limit: q.tail, tail: true });
      return { lines: lines.map(logLine) };
    });
  };
