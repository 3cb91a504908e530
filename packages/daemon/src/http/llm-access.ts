import type { ErrorCode } from '@aiflock/protocol';
import { route, type RouteDoc } from './route-doc.js';
import { FlockError, type GatewayChatRequest, type GatewayChatResult, type GatewayChunk, type LlmCaller, type LlmGateway } from '@aiflock/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from './context.js';
import { toApiError } from './errors.js';

/** What a call through the gateway may answer besides every route's errors. */
export const LLM_ERRORS: readonly ErrorCode[] = [
  'llm_unavailable',
  'llm_unknown_model',
  'model_not_entitled',
  'llm_capability_unsupported',
  'llm_context_length',
  'llm_invalid_request',
  'llm_content_policy',
  'quota_exceeded',
  'llm_rate_limited',
  'llm_cancelled',
  'upstream_failed',
  'upstream_timeout',
  'llm_provider_auth',
];

/** Route options of a gateway route: the `llm:invoke` scope and the gateway's errors. */
export const llmRoute = (doc: RouteDoc, extra?: Parameters<typeof route>[2]) => route('llm:invoke', { ...doc, errors: [...LLM_ERRORS, ...(doc.errors ?? [])] }, extra);

export function requireGateway(ctx: ApiContext): LlmGateway {
  if (!ctx.llm.gateway) throw new FlockError('llm_unavailable', ctx.llm.detail);
  return ctx.llm.gateway;
}

/**
 * Who an HTTP caller is for entitlements and usage: the authenticated token (configure
 * `llm.entitlements.callers.<token id>`), or `http` for a caller the auth layer let in
 * without one (the loopback development bypass).
 */
export function httpCaller(req: FastifyRequest): LlmCaller {
  return { id: req.actor?.id ?? 'http' };
}

/** Fires when the client disconnects before the answer is complete: the provider call stops. */
export function callerGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

/**
 * Stream after the first item is known: a failure before it (quota, every provider down)
 * is still a normal HTTP error with its status; after it, `renderError` ends the stream.
 */
export async function streamResponse<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  source: AsyncIterable<T>,
  contentType: string,
  render: { item(v: T): string; error(body: ReturnType<typeof toApiError>['body']): string; end?: string },
): Promise<void> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': req.id });
  let gone = false;
  raw.on('close', () => (gone = true));
  try {
    for (let r = first; !r.done; r = await it.next()) {
      if (gone) break;
      raw.write(render.item(r.value));
    }
    if (!gone && render.end) raw.write(render.end);
  } catch (err) {
    const { body } = toApiError(err, req.id);
    if (!gone) raw.write(render.error(body));
    if (gone) req.log.debug({ err }, 'LLM stream stopped: the client went away');
    else req.log.warn({ err }, 'LLM stream ended with an error');
  } finally {
    // A client that left stops the provider call (and frees its entitlement slot).
    if (gone) await it.return?.();
    raw.end();
  }
}

/** How a compatible route renders a streamed answer (see `streamResponse`). */
export interface StreamRender<T = GatewayChunk> {
  contentType: string;
  item(v: T): string;
  error(body: ReturnType<typeof toApiError>['body']): string;
  end?: string;
}

/**
 * The one path every chat-shaped route takes to the gateway: the route's scope is already
 * checked; here the caller (for entitlements and metering), cancellation on disconnect, and
 * either a whole answer or a stream in the route's own wire format.
 */
export async function answerChat<W>(
  ctx: ApiContext,
  req: FastifyRequest,
  reply: FastifyReply,
  request: GatewayChatRequest,
  answer: { stream: false; whole(r: GatewayChatResult): W } | { stream: true; render: StreamRender },
): Promise<W | void> {
  const gateway = requireGateway(ctx);
  const call = { correlationId: req.id, ...request, signal: callerGone(reply) };
  if (answer.stream) return streamResponse(req, reply, gateway.chatStream(call, httpCaller(req)), answer.render.contentType, answer.render);
  return answer.whole(await gateway.chat(call, httpCaller(req)));
}
