import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SpanKind, extractTraceContext, tracer } from './tracing.js';

const spans = new WeakMap<FastifyRequest, { span: Span; ctx: Context }>();

/**
 * One server span per HTTP request, continuing a caller's `traceparent`. It starts when the
 * request arrives and is made the active context for the handler in preHandler: the body is
 * read between those two from socket events, which would not carry an earlier context.
 */
export function installHttpSpans(app: FastifyInstance): void {
  app.addHook('onRequest', (req, _reply, done) => {
    const parent = extractTraceContext((k) => {
      const v = req.headers[k];
      return typeof v === 'string' ? v : undefined;
    });
    const span = tracer().startSpan(`${req.method}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.url.split('?')[0]!, 'aiflock.request_id': req.id } }, parent);
    spans.set(req, { span, ctx: trace.setSpan(parent, span) });
    done();
  });
  app.addHook('preHandler', (req, _reply, done) => {
    const s = spans.get(req);
    if (s) context.with(s.ctx, done);
    else done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const s = spans.get(req);
    if (s) {
      const route = req.routeOptions.url;
      if (route) s.span.updateName(`${req.method} ${route}`);
      s.span.setAttributes({ 'http.response.status_code': reply.statusCode, ...(route ? { 'http.route': route } : {}), ...(req.actor ? { 'aiflock.actor': req.actor.id } : {}) });
      if (reply.statusCode >= 500) s.span.setStatus({ code: SpanStatusCode.ERROR });
      s.span.end();
      spans.delete(req);
    }
    done();
  });
}
