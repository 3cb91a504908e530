import type { FastifyPluginAsync } from 'fastify';
import { FlockError, verifyWebhookSignature } from '@aiflock/core';
import { PaymentEvent, PaymentReceipt } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/**
 * The signed payments webhook. Authenticated by its HMAC signature rather than a bearer
 * token (a payment provider holds none), so its scope is `public`. The signature covers the
 * exact bytes received, so this plugin keeps the raw body instead of Fastify's parsed JSON.
 */
export const paymentRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body));

    app.post('/payments/webhook', route('public', { summary: 'A payment provider reports a completed payment (HMAC-signed); 201 credited, 200 a duplicate', body: PaymentEvent, headers: { 'x-flock-timestamp': 'Unix seconds when signed', 'x-flock-signature': 'HMAC-SHA256 of timestamp and body with the webhook secret' }, response: PaymentReceipt, status: [201, 200], errors: ['signature_invalid', 'agent_not_found', 'not_ready', 'idempotency_conflict'] }), async (req, reply) => {
      const { secret, toleranceSeconds } = ctx.economy.webhook;
      if (!secret) throw new FlockError('not_ready', 'the payments webhook is disabled: set economy.webhook.secret (env AIFLOCK_PAYMENTS_WEBHOOK_SECRET)');
      const raw = typeof req.body === 'string' ? req.body : '';
      const header = (n: string) => (typeof req.headers[n] === 'string' ? (req.headers[n] as string) : undefined);
      try {
        verifyWebhookSignature({ secret, timestamp: header('x-flock-timestamp'), signature: header('x-flock-signature'), body: raw, now: new Date(), toleranceSeconds });
      } catch (err) {
        await ctx.audit.record({ actor: 'webhook', action: 'payments.webhook', resource: 'payments', outcome: 'denied', requestId: req.id, details: { message: (err as Error).message } });
        throw err;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new FlockError('validation_failed', 'invalid request body: not JSON');
      }
      const event = parseInput(PaymentEvent, parsed, 'body');
      // Money is minted only for an agent that exists: a 404 (the sender retries or reports it).
      await ctx.deployments.require(event.agent);
      const out = await ctx.economy.payments.credit({ agent: event.agent, amount: event.amount, paymentTxnId: event.paymentTxnId, via: 'webhook', actor: 'webhook', eventId: event.id, requestId: req.id });
      return reply.status(out.applied ? 201 : 200).send({ eventId: event.id, duplicate: !out.applied, txn: out.txn });
    });
  };
