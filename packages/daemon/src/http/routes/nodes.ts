import type { FastifyPluginAsync } from 'fastify';
import { FlockError, type NodeService, type NodeView } from '@aiflock/core';
import { IssuedJoinToken, JoinTokenRequest, NodeInfo, NodeJoined, NodeJoinRequest, NodeLabelRequest, NodeList, NodeParams, nodeSubjects } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/** What a joining node is told besides its credentials. */
export interface NodesApi {
  service: NodeService;
  /** The bus as other hosts reach it. */
  busUrl: string;
  heartbeatMs: number;
  flock: string;
}

const info = (n: NodeView): NodeInfo => ({
  name: n.record.name,
  status: n.status,
  local: n.local,
  labels: n.record.labels,
  cordoned: n.record.cordoned,
  draining: n.record.draining,
  drained: n.record.draining && n.instances.length === 0,
  // A row stored before nodes said whether their runtime gives GPUs: it did not.
  capacity: n.record.capacity ? { ...n.record.capacity, gpuSandboxes: n.record.capacity.gpuSandboxes ?? false } : null,
  joinedAt: n.record.joinedAt,
  lastHeartbeatAt: n.record.lastHeartbeatAt,
  version: n.record.version,
  instances: n.instances.map((i) => ({ id: i.id, agent: i.agent, status: i.status })),
  allocated: n.allocated,
});

/** `aiflock node ...`: join tokens, joining, and the nodes themselves. */
export const nodeRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const nodes = (): NodesApi => {
      if (!ctx.nodes) throw new FlockError('not_ready', 'this daemon keeps no nodes');
      return ctx.nodes;
    };

    app.post('/nodes/tokens', route('admin', { summary: 'Create a node join token (shown once; stored hashed; audited)', body: JoinTokenRequest, response: IssuedJoinToken, status: 201 }), async (req, reply) => {
      const body = parseInput(JoinTokenRequest, req.body ?? {}, 'body');
      const issued = await audited(ctx.audit, req, 'node.token.create', 'node-token', () => nodes().service.createToken({ ...body, by: actorOf(req) }), (r) => ({
        resource: `node-token/${r.id}`,
        details: { ttlSeconds: body.ttlSeconds, singleUse: body.singleUse, expiresAt: r.expiresAt },
      }));
      return reply.status(201).header('cache-control', 'no-store').send(issued);
    });

    /** Public: the join token in the body is the credential. */
    app.post(
      '/nodes/join',
      route('public', { summary: 'A host joins the flock with a join token and gets bus credentials scoped to its node (audited)', body: NodeJoinRequest, response: NodeJoined, errors: ['join_token_invalid', 'node_name_taken', 'node_is_local'] }),
      async (req, reply) => {
        const body = parseInput(NodeJoinRequest, req.body, 'body');
        const api = nodes();
        const joined = await audited(ctx.audit, req, 'node.join', `node/${body.name}`, () => api.service.join(body), (r) => ({ details: { tokenId: r.tokenId, labels: body.labels } }));
        req.log.info({ node: body.name, tokenId: joined.tokenId }, 'node joined');
        return reply.header('cache-control', 'no-store').send({ name: body.name, natsUrl: api.busUrl, creds: joined.creds, inboxPrefix: nodeSubjects.inbox(body.name), heartbeatMs: api.heartbeatMs, flock: api.flock });
      },
    );

    app.get('/nodes', route('agents:read', { summary: 'Every node: status, labels, capacity, what runs there', response: NodeList }), async () => ({ nodes: (await nodes().service.list()).map(info) }));

    app.get('/nodes/:name', route('agents:read', { summary: 'One node', params: NodeParams, response: NodeInfo, errors: ['node_not_found'] }), async (req) => {
      const { name } = parseInput(NodeParams, req.params, 'params');
      return info(await nodes().service.get(name));
    });

    app.post('/nodes/:name/labels', route('admin', { summary: "Set (value) or remove (null) a node's labels (audited)", params: NodeParams, body: NodeLabelRequest, response: NodeInfo, errors: ['node_not_found'] }), async (req) => {
      const { name } = parseInput(NodeParams, req.params, 'params');
      const { labels } = parseInput(NodeLabelRequest, req.body, 'body');
      return info(await audited(ctx.audit, req, 'node.label', `node/${name}`, () => nodes().service.label(name, labels), () => ({ details: { labels } })));
    });

    const toggle = (path: string, action: string, summary: string, run: (s: NodeService, name: string) => Promise<NodeView>) =>
      app.post(path, route('admin', { summary, params: NodeParams, body: null, response: NodeInfo, errors: ['node_not_found'] }), async (req) => {
        const { name } = parseInput(NodeParams, req.params, 'params');
        return info(await audited(ctx.audit, req, action, `node/${name}`, () => run(nodes().service, name)));
      });
    toggle('/nodes/:name/cordon', 'node.cordon', 'Cordon a node: no new instances go there (audited)', (s, n) => s.cordon(n, true));
    toggle('/nodes/:name/uncordon', 'node.uncordon', 'Uncordon a node (also ends a drain; audited)', (s, n) => s.cordon(n, false));
    toggle('/nodes/:name/drain', 'node.drain', 'Drain a node: cordoned, and its instances moved elsewhere (audited)', (s, n) => s.drain(n));

    app.delete('/nodes/:name', route('admin', { summary: 'Remove a node and revoke its bus credentials (audited)', params: NodeParams, response: NodeInfo, errors: ['node_not_found', 'node_is_local'] }), async (req) => {
      const { name } = parseInput(NodeParams, req.params, 'params');
      return info(await audited(ctx.audit, req, 'node.remove', `node/${name}`, () => nodes().service.remove(name)));
    });
  };
