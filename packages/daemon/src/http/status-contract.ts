import type { FastifyInstance } from 'fastify';
import { FlockError } from '@aiflock/core';
import { toApiError } from './errors.js';
import { successStatuses } from './route-doc.js';

/**
 * A route's success status must be one its OpenAPI document declares (`route(scope, { status })`),
 * or generated clients mistake a documented answer for an error. Checked on every answer, as
 * no test can read a handler's `reply.status(...)`: a drift is logged as an error, and under
 * `strict` (the test harness) the answer becomes a 500 naming the route, so the first test that
 * meets the drift fails.
 */
export function enforceDeclaredStatuses(app: FastifyInstance, strict: boolean): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const status = reply.statusCode;
    const doc = req.routeOptions.config?.doc;
    if (status < 200 || status >= 300 || !doc) return payload;
    const declared = successStatuses(doc);
    if (declared.includes(status)) return payload;
    const message = `${req.method} ${req.routeOptions.url ?? req.url} answered ${status}, which its OpenAPI document does not declare (declared: ${declared.join(', ')})`;
    req.log.error({ route: req.routeOptions.url, status, declared }, message);
    if (!strict) return payload;
    const { status: failed, body } = toApiError(new FlockError('internal', message), req.id);
    void reply.status(failed).type('application/json');
    return JSON.stringify(body);
  });
}
