import type { AuditLog } from '@aiflock/core';
import type { FastifyRequest } from 'fastify';
import type { AuthRefusal } from './auth.js';

/**
 * Audits every refused request to a protected route (401/403) with outcome `denied`: who (the
 * token id, when one was named, or `anonymous`), which route, the scope it needs and why.
 * Such requests already count toward the API rate limit before they get here; on top of that,
 * each token or source address gets at most `perMinute` denied entries a minute, so a caller
 * that keeps under the request limit still cannot make the audit log grow faster than that.
 * What is over the budget is counted (`onSuppressed`), not recorded.
 */
export function deniedAuditor(audit: AuditLog, opts: { perMinute: number; onSuppressed?: () => void }): (req: FastifyRequest, refusal: AuthRefusal) => Promise<void> {
  let window = 0;
  let counts = new Map<string, number>();
  return async (req, refusal) => {
    const actor = refusal.tokenId ?? req.actor?.id ?? 'anonymous';
    const key = refusal.tokenId ?? req.actor?.id ?? `addr:${req.ip}`;
    const minute = Math.floor(Date.now() / 60_000);
    if (minute !== window) {
      window = minute;
      counts = new Map();
    }
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n > opts.perMinute) return opts.onSuppressed?.();
    // The route's pattern groups the refusals; the path says what they aimed at (which agent,
    // which token). Never the query: a WebSocket's one-shot ticket travels there.
    const path = req.url.split('?')[0]!.slice(0, 300);
    const route = `${req.method} ${req.routeOptions.url ?? path}`;
    await audit
      .record({
        actor,
        action: 'auth.denied',
        resource: `route:${route}`,
        outcome: 'denied',
        requestId: req.id,
        details: { code: refusal.error.code, reason: refusal.error.message, scope: refusal.scope, tokenId: refusal.tokenId ?? null, address: req.ip, path },
      })
      .catch((err: unknown) => req.log.error({ err, route }, 'audit entry for a denied request not recorded'));
  };
}
