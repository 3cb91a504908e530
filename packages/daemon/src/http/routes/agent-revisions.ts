import type { FastifyPluginAsync } from 'fastify';
import { AgentNameParams as NameParams, DeployResponse, RevisionList, RollbackRequest } from '@aiflock/protocol';
import { grants, RevisionService } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/** History and rollback work on what the deployment service keeps; nothing of their own. */
export const revisionsOf = (ctx: Pick<ApiContext, 'store' | 'deployments'>) =>
  new RevisionService({ store: ctx.store, deployments: ctx.deployments, artefacts: ctx.deployments.artefacts });

/** An agent's revisions (`aiflock agent history`) and rollback (`aiflock agent rollback`). */
export const agentRevisionRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/agents/:name/revisions', route('agents:read', { summary: "An agent's revisions, oldest first: digest, CID, who deployed it, when, and what changed", params: NameParams, response: RevisionList }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const [revisions, agent] = await Promise.all([revisionsOf(ctx).history(name), ctx.deployments.get(name)]);
      const current = revisions.findLast((r) => r.digest === agent.digest)?.revision;
      return {
        agent: name,
        revisions: revisions.map(({ document: _document, agent: _agent, ...r }) => ({ ...r, current: r.revision === current })),
      };
    });

    app.post('/agents/:name/rollback', route('agents:write', { summary: 'Roll back to an earlier revision (the previous one by default); the rollback is a new revision', params: NameParams, body: RollbackRequest, response: DeployResponse }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const { to } = parseInput(RollbackRequest, req.body ?? {}, 'body');
      const by = { id: actorOf(req), admin: grants(req.actor?.scopes ?? [], 'admin') };
      return audited(
        ctx.audit,
        req,
        'agent.rollback',
        `agent/${name}`,
        () => revisionsOf(ctx).rollback(name, to === undefined ? undefined : String(to), by),
        (o) => ({ details: { to: to ?? 'previous', digest: o.agent.digest, revision: o.revision, changed: o.changed } }),
      );
    });
  };
