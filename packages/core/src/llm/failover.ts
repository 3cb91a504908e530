import { FlockError } from '../errors.js';
import { LlmProviderError, type ChatChunk, type LlmErrorKind, type LlmProvider, type Usage } from '../ports/llm-provider.js';
import { backoffDelay } from './backoff.js';
import type { CircuitBreaker } from './breaker.js';
import type { Reservation } from './entitlements.js';
import type { GatewayChatRequest, GatewayChunk, GatewayDeps, LlmCaller, LlmUsageEvent } from './gateway-types.js';
import { asProviderError, FAILOVER_KINDS, toFlockError } from './provider-errors.js';
import type { ModelRoute } from './registry.js';
import { reportUsage } from './usage-report.js';

/** What the failover loops use of the gateway: its providers, their breakers and its ports. */
export interface Failover {
  readonly providers: ReadonlyMap<string, LlmProvider>;
  readonly breakers: ReadonlyMap<string, CircuitBreaker>;
  readonly deps: GatewayDeps;
}

/** One admitted chat call: its routes in order and the entitlement it reserved. */
export interface ChatCall {
  req: GatewayChatRequest;
  caller: LlmCaller;
  streaming: boolean;
  correlationId: string;
  routes: readonly ModelRoute[];
  reservation: Reservation;
  promptTokens: number;
}

/**
 * Tries the routes in order, each with jittered retries, inside one deadline; settles the
 * reservation and reports usage exactly once however the call ends (done, failed, cancelled
 * or abandoned by its reader).
 */
export async function* chatOverRoutes(f: Failover, call: ChatCall): AsyncGenerator<GatewayChunk> {
  const { deps } = f;
  const { req, caller, streaming, correlationId, routes, reservation, promptTokens } = call;
  const started = deps.clock.now().getTime();
  const deadline = started + deps.policy.deadlineMs;
  let attempts = 0;
  let fallbackUsed = false;
  let last: LlmProviderError | null = null;
  let settled = false;
  let reported = false;
  // What a stream already delivered: charged even when it never finishes.
  let outChars = 0;
  let current: { route: ModelRoute; provider: string; breaker: CircuitBreaker } | null = null;
  const partialUsage = (): Usage => ({ tokensIn: promptTokens, tokensOut: Math.ceil(outChars / 4) });
  // Reports with the attempts and fallback as they stand when the call ends.
  const report = (route: ModelRoute | null, provider: string | null, usage: Usage, outcome: LlmUsageEvent['outcome']) =>
    reportUsage(deps, correlationId, caller, req.model, route, provider, usage, started, fallbackUsed, attempts, outcome);
  const finish = (done: Extract<ChatChunk, { type: 'done' }>, route: ModelRoute, provider: string): GatewayChunk => {
    reservation.settle(done.usage.tokensIn + done.usage.tokensOut);
    const cost = report(route, provider, done.usage, 'ok');
    return { ...done, provider, correlationId, costAiDollars: cost, fallbackUsed };
  };
  try {
    for (const [i, route] of routes.entries()) {
      const provider = f.providers.get(route.provider)!;
      const breaker = f.breakers.get(route.provider)!;
      current = { route, provider: provider.name, breaker };
      if (i > 0) fallbackUsed = true;
      for (let attempt = 1; attempt <= deps.policy.attemptsPerProvider; attempt++) {
        const remaining = deadline - deps.clock.now().getTime();
        if (remaining <= 0) break;
        if (req.signal?.aborted) throw new FlockError('llm_cancelled', 'the call was cancelled by the caller', { correlationId });
        if (!breaker.tryAcquire()) {
          last = new LlmProviderError('upstream', route.provider, `circuit open for ${route.provider}; next probe in ${breaker.retryInMs()} ms`, { retryAfterMs: breaker.retryInMs() });
          break;
        }
        attempts += 1;
        const providerReq = { model: route.model, messages: req.messages, tools: req.tools, format: req.format, maxTokens: req.maxTokens, temperature: req.temperature, stop: req.stop, completion: req.completion };
        let yielded = false;
        try {
          if (streaming) {
            for await (const chunk of provider.chatStream(providerReq, { timeoutMs: Math.min(remaining, deps.policy.attemptTimeoutMs), signal: req.signal })) {
              if (chunk.type === 'done') {
                breaker.success();
                settled = true;
                yield finish(chunk, route, provider.name);
                return;
              }
              yielded = true;
              outChars += chunk.type === 'delta' ? chunk.text.length : JSON.stringify(chunk.call).length;
              yield chunk;
            }
            throw new LlmProviderError('upstream', provider.name, 'stream ended without a final message');
          } else {
            const r = await provider.chat(providerReq, { timeoutMs: Math.min(remaining, deps.policy.attemptTimeoutMs), signal: req.signal });
            breaker.success();
            if (r.content) yield { type: 'delta', text: r.content };
            for (const call of r.toolCalls) yield { type: 'tool_call', call };
            settled = true;
            yield finish({ type: 'done', finishReason: r.finishReason, usage: r.usage, model: r.model }, route, provider.name);
            return;
          }
        } catch (err) {
          if (req.signal?.aborted) {
            // Not the provider's fault: no breaker change, no retry, no failover (the
            // outer finally charges what was delivered).
            throw new FlockError('llm_cancelled', `the call to ${provider.name} was cancelled by the caller`, { provider: provider.name, correlationId });
          }
          const e = asProviderError(err, provider.name);
          if (e.retryable || e.kind === 'auth') breaker.failure();
          else breaker.success(); // the provider answered; the request was at fault
          if (yielded) {
            // The tokens already sent were produced (and billed by the provider): charge them.
            settled = true;
            reported = true;
            reservation.settle(partialUsage().tokensIn + partialUsage().tokensOut);
            report(route, provider.name, partialUsage(), 'interrupted');
            throw toFlockError(e, correlationId, `${provider.name} failed mid-stream after the first token: ${e.message}`);
          }
          last = e;
          if (!FAILOVER_KINDS.has(e.kind)) throw toFlockError(e, correlationId);
          deps.observer?.fallback?.(provider.name, e.kind);
          if (!e.retryable || attempt === deps.policy.attemptsPerProvider) break;
          const delay = backoffDelay(attempt, deps.policy.backoff, deps.random, e.opts.retryAfterMs);
          // A wait past the deadline is useless here; the next provider may answer now.
          if (deps.clock.now().getTime() + delay >= deadline) break;
          await deps.sleep(delay);
        }
      }
    }
    if (!last) throw new FlockError('upstream_timeout', `no provider answered "${req.model}" within ${deps.policy.deadlineMs} ms`, { correlationId, model: req.model });
    throw toFlockError(last, correlationId, `every route for "${req.model}" failed; last: ${last.message}`);
  } catch (err) {
    const d = err instanceof FlockError ? (err.details as { provider?: string; kind?: LlmErrorKind } | undefined) : undefined;
    if (!settled && !reported && d?.provider && d.kind) {
      report(null, d.provider, { tokensIn: 0, tokensOut: 0 }, d.kind);
    }
    throw err;
  } finally {
    if (!settled) {
      // Cancelled (a signal, or a reader that stopped): charge what was delivered, free a
      // half-open probe the call may hold, and report the call once.
      current?.breaker.releaseProbe();
      if (outChars > 0 && current) {
        reservation.settle(partialUsage().tokensIn + partialUsage().tokensOut);
        if (!reported) report(current.route, current.provider, partialUsage(), 'cancelled');
      } else {
        reservation.release();
        if (!reported && current && req.signal?.aborted) report(current.route, current.provider, { tokensIn: 0, tokensOut: 0 }, 'cancelled');
      }
    }
  }
}

/**
 * The same failover for a one-shot call (embeddings): routes in order, retries with backoff
 * inside the deadline, breakers fed, usage reported on success; the reservation is released
 * if no attempt settled it.
 */
export async function attemptRoutes<T>(
  f: Failover,
  routes: readonly ModelRoute[],
  correlationId: string,
  reservation: Reservation,
  caller: LlmCaller,
  model: string,
  call: (route: ModelRoute, p: LlmProvider, timeoutMs: number) => Promise<{ value: T; usage: Usage }>,
): Promise<T> {
  const { deps } = f;
  const started = deps.clock.now().getTime();
  const deadline = started + deps.policy.deadlineMs;
  let last: LlmProviderError | null = null;
  let attempts = 0;
  try {
    for (const [i, route] of routes.entries()) {
      const provider = f.providers.get(route.provider)!;
      const breaker = f.breakers.get(route.provider)!;
      for (let attempt = 1; attempt <= deps.policy.attemptsPerProvider; attempt++) {
        const remaining = deadline - deps.clock.now().getTime();
        if (remaining <= 0 || !breaker.tryAcquire()) break;
        attempts += 1;
        try {
          const { value, usage } = await call(route, provider, Math.min(remaining, deps.policy.attemptTimeoutMs));
          breaker.success();
          reservation.settle(usage.tokensIn + usage.tokensOut);
          reportUsage(deps, correlationId, caller, model, route, provider.name, usage, started, i > 0, attempts, 'ok');
          return value;
        } catch (err) {
          const e = asProviderError(err, provider.name);
          if (e.retryable || e.kind === 'auth') breaker.failure();
          last = e;
          if (!FAILOVER_KINDS.has(e.kind)) throw toFlockError(e, correlationId);
          deps.observer?.fallback?.(provider.name, e.kind);
          if (!e.retryable) break;
          const delay = backoffDelay(attempt, deps.policy.backoff, deps.random, e.opts.retryAfterMs);
          if (attempt === deps.policy.attemptsPerProvider || deps.clock.now().getTime() + delay >= deadline) break;
          await deps.sleep(delay);
        }
      }
    }
    if (!last) throw new FlockError('llm_unavailable', `no provider is available for "${model}"`, { correlationId, model });
    throw toFlockError(last, correlationId, `every route for "${model}" failed; last: ${last.message}`);
  } finally {
    reservation.release();
  }
}
