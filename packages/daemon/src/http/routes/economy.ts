import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { AgentName, CreditRequest, FreezeRequest, LedgerQuery, PurchaseRequest, RewardRequest } from '@aiflock/protocol';
import { agentAccount, formatAiDollars, verifyLedger } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';

const AgentParams = z.object({ agent: AgentName }).strict();
const ReconciliationQuery = z.object({ since: z.iso.datetime({ offset: true }).optional() }).strict();

/**
 * The economy API: balances and ledgers (read), rewards and penalties (people), credits,
 * freezes and purchases (admin). No route moves money out of the flock.
 */
export const economyRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {

    app.get('/economy/tiers', { config: { scope: 'economy:read' } }, async () => ({ unit: 'cents (1 aiDollar = 100)', tiers: ctx.economy.compute.tiers }));

    app.get('/economy/balance/:agent', { config: { scope: 'economy:read' } }, async (req) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const entitlements = await ctx.economy.compute.entitlementsFor(agent);
      return { agent, balance: entitlements.balance, aiDollars: formatAiDollars(entitlements.balance), entitlements };
    });

    app.get('/economy/ledger/:agent', { config: { scope: 'economy:read' } }, async (req) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const q = parseInput(LedgerQuery, req.query, 'query');
      const account = agentAccount(agent);
      const txns = await ctx.store.ledger.history({ account, limit: q.limit, ...(q.cursor ? { before: q.cursor } : {}) });
      return {
        agent,
        transactions: txns.map((t) => ({
          id: t.id,
          // Signed from this agent's point of view.
          amount: t.to === account ? t.amount : -t.amount,
          reason: t.reason,
          counterparty: t.to === account ? t.from : t.to,
          source: t.source,
          postId: t.postId,
          correlationId: t.correlationId,
          meta: t.meta,
          createdAt: t.createdAt,
        })),
        next: txns.length === q.limit ? txns[txns.length - 1]!.id : null,
      };
    });

    for (const kind of ['reward', 'penalty'] as const) {
      const path = kind === 'reward' ? '/economy/reward' : '/economy/penalize';
      app.post(path, { config: { scope: 'human' } }, async (req, reply) => {
        const out = await audited(ctx.audit, req, `economy.${kind}`, 'economy', async () => {
          const body = parseInput(RewardRequest, req.body, 'body');
          return ctx.economy.rewards.apply({ kind, person: actorOf(req), ...body, requestId: req.id });
        }, (o) => ({ resource: `agent/${o.txn.to.startsWith('agent:') ? o.txn.to.slice(6) : o.txn.from.slice(6)}`, details: { txn: o.txn.id, amount: o.txn.amount, postId: o.txn.postId, applied: o.applied } }));
        return reply.status(out.applied ? 201 : 200).send({ ...out, balance: await ctx.store.ledger.balance(kind === 'reward' ? out.txn.to : out.txn.from) });
      });
    }

    app.post('/economy/credit', { config: { scope: 'admin' } }, async (req, reply) => {
      const out = await audited(ctx.audit, req, 'economy.credit', 'economy', async () => {
        const body = parseInput(CreditRequest, req.body, 'body');
        // Money is minted only for an agent that exists (a typo must not mint to nobody).
        await ctx.deployments.require(body.agent);
        return ctx.economy.payments.credit({ ...body, via: 'manual', actor: actorOf(req), requestId: req.id });
      }, (o) => ({ resource: `ledger/${o.txn.id}`, details: { applied: o.applied, source: o.txn.source } }));
      return reply.status(out.applied ? 201 : 200).send(out);
    });

    app.get('/economy/reconciliation', { config: { scope: 'admin' } }, async (req) => {
      const q = parseInput(ReconciliationQuery, req.query, 'query');
      return ctx.economy.payments.reconciliation(q.since);
    });

    // Ledger tables against themselves and the hash-chained audit log (docs/economy.md).
    app.get('/economy/verify', { config: { scope: 'admin' } }, async () => verifyLedger(ctx.store.ledger, ctx.store.audit));

    app.post('/economy/compute/:agent/freeze', { config: { scope: 'admin' } }, async (req) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const body = parseInput(FreezeRequest, req.body, 'body');
      return ctx.economy.compute.setFrozen({ agent, frozen: body.frozen, ...(body.note ? { note: body.note } : {}), actor: actorOf(req), requestId: req.id });
    });

    app.post('/economy/compute/:agent/purchase', { config: { scope: 'admin' } }, async (req, reply) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const body = parseInput(PurchaseRequest, req.body, 'body');
      const out = await ctx.economy.compute.purchase({ agent, ...body, actor: actorOf(req), requestId: req.id });
      return reply.status(out.applied ? 201 : 200).send(out);
    });
  };
