import type { FastifyPluginAsync } from 'fastify';
import { AgentAccountParams as AgentParams, BalanceView, CreditRequest, Entitlements, FreezeRequest, LedgerOutcome, LedgerPage, LedgerQuery, LedgerVerdict, PurchaseOutcome, PurchaseRequest, Reconciliation, ReconciliationQuery, RewardOutcome, RewardRequest, TierList } from '@aiflock/protocol';
import { agentAccount, formatAiDollars, verifyLedger } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';


/**
 * The economy API: balances and ledgers (read), rewards and penalties (people), credits,
 * freezes and purchases (admin). No route moves money out of the flock.
 */
export const economyRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {

    app.get('/economy/tiers', route('economy:read', { summary: 'The compute tiers: what each balance or purchase buys', response: TierList }), async () => ({ unit: 'cents (1 aiDollar = 100)', tiers: ctx.economy.compute.tiers }));

    app.get('/economy/balance/:agent', route('economy:read', { summary: "An agent's balance and the compute it entitles", params: AgentParams, response: BalanceView }), async (req) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const entitlements = await ctx.economy.compute.entitlementsFor(agent);
      return { agent, balance: entitlements.balance, aiDollars: formatAiDollars(entitlements.balance), entitlements };
    });

    app.get('/economy/ledger/:agent', route('economy:read', { summary: "An agent's transactions, newest first, signed from its side", params: AgentParams, query: LedgerQuery, response: LedgerPage }), async (req) => {
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
      app.post(path, route('human', { summary: kind === 'reward' ? 'Reward an agent for a post (201 applied, 200 a retry)' : 'Penalize an agent for a post (201 applied, 200 a retry)', body: RewardRequest, response: RewardOutcome, status: [201, 200], errors: ['agent_not_found', 'post_not_found', 'reward_not_allowed', 'reward_limit_exceeded', 'insufficient_funds', 'idempotency_conflict'] }), async (req, reply) => {
        const out = await audited(ctx.audit, req, `economy.${kind}`, 'economy', async () => {
          const body = parseInput(RewardRequest, req.body, 'body');
          return ctx.economy.rewards.apply({ kind, person: actorOf(req), ...body, requestId: req.id });
        }, (o) => ({ resource: `agent/${o.txn.to.startsWith('agent:') ? o.txn.to.slice(6) : o.txn.from.slice(6)}`, details: { txn: o.txn.id, amount: o.txn.amount, postId: o.txn.postId, applied: o.applied } }));
        return reply.status(out.applied ? 201 : 200).send({ ...out, balance: await ctx.store.ledger.balance(kind === 'reward' ? out.txn.to : out.txn.from) });
      });
    }

    app.post('/economy/credit', route('admin', { summary: 'Credit a deposit, idempotent on the payment id (201 applied, 200 a retry)', body: CreditRequest, response: LedgerOutcome, status: [201, 200], errors: ['agent_not_found', 'idempotency_conflict'] }), async (req, reply) => {
      const out = await audited(ctx.audit, req, 'economy.credit', 'economy', async () => {
        const body = parseInput(CreditRequest, req.body, 'body');
        // Money is minted only for an agent that exists (a typo must not mint to nobody).
        await ctx.deployments.require(body.agent);
        return ctx.economy.payments.credit({ ...body, via: 'manual', actor: actorOf(req), requestId: req.id });
      }, (o) => ({ resource: `ledger/${o.txn.id}`, details: { applied: o.applied, source: o.txn.source } }));
      return reply.status(out.applied ? 201 : 200).send(out);
    });

    app.get('/economy/reconciliation', route('admin', { summary: 'Deposits credited, to reconcile with the payment provider', query: ReconciliationQuery, response: Reconciliation }), async (req) => {
      const q = parseInput(ReconciliationQuery, req.query, 'query');
      return ctx.economy.payments.reconciliation(q.since);
    });

    // Ledger tables against themselves and the hash-chained audit log (docs/economy.md).
    app.get('/economy/verify', route('admin', { summary: 'The ledger checked against itself and the audit log', response: LedgerVerdict }), async () => verifyLedger(ctx.store.ledger, ctx.store.audit));

    app.post('/economy/compute/:agent/freeze', route('admin', { summary: "Freeze or unfreeze an agent's compute", params: AgentParams, body: FreezeRequest, response: Entitlements, errors: ['agent_not_found'] }), async (req) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const body = parseInput(FreezeRequest, req.body, 'body');
      return ctx.economy.compute.setFrozen({ agent, frozen: body.frozen, ...(body.note ? { note: body.note } : {}), actor: actorOf(req), requestId: req.id });
    });

    app.post('/economy/compute/:agent/purchase', route('admin', { summary: 'Buy a tier for some hours from the agent\'s balance (201 applied, 200 a retry)', params: AgentParams, body: PurchaseRequest, response: PurchaseOutcome, status: [201, 200], errors: ['agent_not_found', 'insufficient_funds', 'idempotency_conflict'] }), async (req, reply) => {
      const { agent } = parseInput(AgentParams, req.params, 'params');
      const body = parseInput(PurchaseRequest, req.body, 'body');
      const out = await ctx.economy.compute.purchase({ agent, ...body, actor: actorOf(req), requestId: req.id });
      return reply.status(out.applied ? 201 : 200).send(out);
    });
  };
