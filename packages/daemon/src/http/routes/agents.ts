import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AgentList, AgentReset, AgentRestarted, AgentNameParams as NameParams, AgentView, ConvertRequest, ConvertResponse, DeployRequest, DeployResponse, LogLines, LogsQuery, ScaleRequest } from '@aiflock/protocol';
import { FlockError, ManifestError, grants, manifestJsonSchema, manifestText, parseManifest } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';
import { followLogs, logLine } from '../follow.js';
import { agentWorld } from './world.js';
import { revisionsOf } from './agent-revisions.js';

/** The caller as the deployment service judges them: owners and admins may change an agent. */
const managerOf = (req: FastifyRequest) => ({ id: actorOf(req), admin: grants(req.actor?.scopes ?? [], 'admin') });

export const agentRoutes =
  (ctx: ApiContext, limits: { largeBody: number }): FastifyPluginAsync =>
  async (app) => {
    app.get('/schemas/agent-manifest.json', route('public', { summary: 'The agent manifest as JSON Schema', produces: 'application/schema+json' }), async () => manifestJsonSchema());

    app.get('/agents', route('agents:read', { summary: 'List agents with their instances', response: AgentList }), async () => ({ agents: await ctx.deployments.list() }));

    app.post('/agents', route('agents:write', { summary: 'Deploy an agent manifest', body: DeployRequest, response: DeployResponse, status: [201, 200], errors: ['manifest_invalid', 'manifest_refused', 'owner_mismatch', 'agent_access_denied', 'agent_quarantined', 'revision_not_found', 'manifest_integrity_failed'] }, { bodyLimit: limits.largeBody }), async (req, reply) => {
      const out = await audited(
        ctx.audit,
        req,
        'agent.deploy',
        'agent',
        async () => {
          const body = parseInput(DeployRequest, req.body, 'body');
          // The deploying identity becomes the owner (who may then not reward the agent).
          const by = managerOf(req);
          if (body.ref !== undefined) return revisionsOf(ctx).deployRef(body.ref, by, body.set);
          return ctx.deployments.deploy(body.manifest!, body.filename, by, { set: body.set });
        },
        (o) => ({ resource: `agent/${o.agent.name}`, details: { digest: o.agent.digest, changed: o.changed, revision: o.revision } }),
      );
      return reply.status(out.changed ? 201 : 200).send(out);
    });

    // Like `helm template`: what a manifest deploys as, changing nothing. The CLI speaks HTTP
    // only, so `aiflock agent convert` asks the daemon, which runs the same parser a deploy does.
    app.post('/agents/convert', route('agents:read', { summary: 'Show a manifest (our dialect or the CIM agent.md) as the manifest it deploys as, with notes on what has no effect', body: ConvertRequest, response: ConvertResponse, errors: ['manifest_invalid'] }, { bodyLimit: limits.largeBody }), async (req) => {
      const body = parseInput(ConvertRequest, req.body, 'body');
      try {
        const parsed = parseManifest(body.manifest, body.filename ?? 'agent.yaml');
        return { dialect: parsed.dialect, digest: parsed.digest, manifest: parsed.document, text: manifestText(parsed.document), notes: parsed.notes };
      } catch (err) {
        if (err instanceof ManifestError) throw new FlockError('manifest_invalid', err.message, { issues: err.issues });
        throw err;
      }
    });

    app.get('/agents/:name', route('agents:read', { summary: 'One agent, with its compute tier and limits and its place in the village', params: NameParams, response: AgentView, errors: ['agent_not_found'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const agent = await ctx.deployments.get(name);
      // Tier and limits in force, so a changed balance is visible where the agent is described.
      return { ...agent, economy: await ctx.economy.compute.entitlementsFor(name), world: agentWorld(ctx.world, name) };
    });

    app.post('/agents/:name/scale', route('agents:write', { summary: 'Set desired replicas', params: NameParams, body: ScaleRequest, response: AgentView, errors: ['agent_not_found', 'agent_quarantined', 'agent_access_denied', 'agent_autoscaled'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const asked = (req.body as { replicas?: unknown } | undefined)?.replicas;
      const replicas = typeof asked === 'number' ? asked : null;
      return audited(ctx.audit, req, 'agent.scale', `agent/${name}`, () => ctx.deployments.scale(name, parseInput(ScaleRequest, req.body, 'body').replicas, managerOf(req)), () => ({
        details: { replicas },
      }));
    });

    app.post('/agents/:name/stop', route('agents:write', { summary: 'Stop every instance', params: NameParams, body: null, response: AgentView, errors: ['agent_not_found', 'agent_stopped', 'agent_access_denied'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      return audited(ctx.audit, req, 'agent.stop', `agent/${name}`, () => ctx.deployments.stop(name, managerOf(req)));
    });

    app.post('/agents/:name/restart', route('agents:write', { summary: 'Replace every instance with a new one of the same manifest', params: NameParams, body: null, response: AgentRestarted, errors: ['agent_not_found', 'agent_access_denied', 'agent_quarantined', 'agent_stopped'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      return audited(ctx.audit, req, 'agent.restart', `agent/${name}`, () => ctx.restarts.restart(name, managerOf(req)), (o) => ({ details: { replaced: o.replaced } }));
    });

    app.post('/agents/:name/reset', route('agents:write', { summary: "Forget the agent's memory, empty its workspace and replace its instances (logs, balance and task history stay)", params: NameParams, body: null, response: AgentReset, errors: ['agent_not_found', 'agent_access_denied', 'agent_quarantined', 'agent_stopped'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      return audited(ctx.audit, req, 'agent.reset', `agent/${name}`, () => ctx.restarts.reset(name, managerOf(req)), (o) => ({
        details: { replaced: o.replaced, memoriesForgotten: o.memoriesForgotten, workspaceWiped: o.workspaceWiped },
      }));
    });

    // Kill switch: admin only, audited.
    for (const op of ['quarantine', 'release', 'kill'] as const) {
      app.post(`/agents/:name/${op}`, route('admin', { summary: `${op[0]!.toUpperCase()}${op.slice(1)} an agent (kill switch)`, params: NameParams, body: null, response: AgentView, errors: ['agent_not_found', 'runtime_unavailable'] }), async (req) => {
        const { name } = parseInput(NameParams, req.params, 'params');
        return audited(ctx.audit, req, `agent.${op}`, `agent/${name}`, () => ctx.killSwitch[op](name));
      });
    }

    app.delete('/agents/:name', route('agents:write', { summary: 'Remove an agent', params: NameParams, status: 204, errors: ['agent_not_found', 'agent_access_denied'] }), async (req, reply) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      await audited(ctx.audit, req, 'agent.remove', `agent/${name}`, () => ctx.deployments.remove(name, managerOf(req)));
      return reply.status(204).send();
    });

    app.get('/agents/:name/logs', route('agents:read', { summary: 'Logs of its instances (NDJSON when following)', params: NameParams, query: LogsQuery, response: LogLines, produces: 'application/x-ndjson', errors: ['agent_not_found'] }), async (req, reply) => {
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
