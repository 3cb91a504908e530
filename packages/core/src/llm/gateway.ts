import { FlockError, type ErrorCode } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import {
  LlmProviderError,
  type ChatChunk,
  type ChatMessage,
  type ChatResponse,
  type EmbedResponse,
  type FinishReason,
  type LlmErrorKind,
  type LlmProvider,
  type OutputFormat,
  type ToolDefinition,
  type Usage,
} from '../ports/llm-provider.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { EntitlementLimiter, type Entitlement, type Reservation } from './entitlements.js';
import { priceUsage, type ModelCapability, type ModelRegistry, type ModelRoute } from './registry.js';

/** Who is calling: an agent (identity from its bus subject) or an HTTP client. */
export interface LlmCaller {
  /** Key for entitlements and usage: the agent name, or the HTTP token's name. */
  id: string;
  agent?: string;
  instanceId?: string;
}

export interface GatewayChatRequest {
  /** A registry name or alias. */
  model: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  format?: OutputFormat;
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  /** A one-shot prompt to complete rather than a conversation (see ChatRequest.completion). */
  completion?: boolean;
  /** Per-request policy (seed 3 `policyOverride`): provider names, or `local` / `cloud`. */
  policy?: string[];
  /** More registry names to try after the model's own fallbacks (e.g. from an agent's manifest). */
  fallbacks?: string[];
  correlationId?: string;
  /** The caller went away or cancelled: stop the provider call, no retry, no failover. */
  signal?: AbortSignal;
}

/** Emitted once per call, success or not; the ledger charges `costAiDollars`. */
export interface LlmUsageEvent {
  correlationId: string;
  caller: string;
  agent: string | null;
  instanceId: string | null;
  model: string;
  provider: string | null;
  providerModel: string | null;
  tokensIn: number;
  tokensOut: number;
  costAiDollars: number;
  latencyMs: number;
  fallbackUsed: boolean;
  attempts: number;
  outcome: 'ok' | LlmErrorKind | 'interrupted' | 'cancelled';
  ts: string;
}

export interface GatewayObserver {
  usage?(e: LlmUsageEvent): void;
  /** A provider attempt failed and the gateway moved on (to a retry or the next provider). */
  fallback?(from: string, kind: LlmErrorKind): void;
  breaker?(provider: string, state: BreakerState): void;
  refused?(caller: string, limit: string): void;
}

export interface GatewayPolicy {
  /** Attempts per provider before moving to the next one. */
  attemptsPerProvider: number;
  backoff: BackoffOptions;
  /** Overall deadline of one call across every retry and fallback. */
  deadlineMs: number;
  /** One attempt's limit, so a slow provider leaves time for the next. */
  attemptTimeoutMs: number;
  breaker: BreakerOptions;
  /** Output budget assumed when reserving tokens for a call without `maxTokens`. */
  defaultMaxTokens: number;
}

export interface GatewayDeps {
  providers: readonly LlmProvider[];
  registry: ModelRegistry;
  policy: GatewayPolicy;
  /**
   * The caller's entitlement now. May be async (an agent's comes from its ledger balance);
   * the reservation that enforces it is taken synchronously after it resolves, so limits
   * still hold under concurrency.
   */
  entitlementFor(caller: LlmCaller): Entitlement | Promise<Entitlement>;
  clock: Clock;
  sleep(ms: number): Promise<void>;
  random(): number;
  newId(): string;
  observer?: GatewayObserver;
}

export type GatewayChunk =
  | Exclude<ChatChunk, { type: 'done' }>
  | { type: 'done'; finishReason: FinishReason; usage: Usage; model: string; provider: string; correlationId: string; costAiDollars: number; fallbackUsed: boolean };

export interface GatewayChatResult extends ChatResponse {
  provider: string;
  correlationId: string;
  costAiDollars: number;
  fallbackUsed: boolean;
}

const LOCAL_KINDS = new Set(['ollama', 'embedded']);

const KIND_TO_CODE: Record<LlmErrorKind, ErrorCode> = {
  validation: 'llm_invalid_request',
  auth: 'llm_provider_auth',
  rate_limit: 'llm_rate_limited',
  context_length: 'llm_context_length',
  content_policy: 'llm_content_policy',
  upstream: 'upstream_failed',
  timeout: 'upstream_timeout',
};

/** Worth trying the next provider for: it may have other keys, limits or a larger window. */
const FAILOVER_KINDS = new Set<LlmErrorKind>(['rate_limit', 'upstream', 'timeout', 'auth', 'context_length']);

/**
 * The LLM gateway's routing core: resolves a model name to routes, enforces the caller's
 * entitlement (reserve, then settle), tries providers in order with jittered retries inside
 * one deadline, keeps a circuit breaker per provider, and reports priced usage.
 */
export class LlmGateway {
  readonly limiter: EntitlementLimiter;
  private readonly providers = new Map<string, LlmProvider>();
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(private readonly deps: GatewayDeps) {
    for (const p of deps.providers) {
      this.providers.set(p.name, p);
      this.breakers.set(p.name, new CircuitBreaker(p.name, deps.policy.breaker, deps.clock, (name, s) => deps.observer?.breaker?.(name, s)));
    }
    this.limiter = new EntitlementLimiter(deps.clock, (c, l) => deps.observer?.refused?.(c, l));
    for (const name of deps.registry.names()) {
      const e = deps.registry.get(name)!;
      if (!this.providers.has(e.provider)) throw new FlockError('validation_failed', `llm registry: "${name}" uses unknown provider "${e.provider}"`);
    }
  }

  get registry(): ModelRegistry {
    return this.deps.registry;
  }

  providerNames(): string[] {
    return [...this.providers.keys()];
  }

  breakerStates(): Record<string, BreakerState> {
    return Object.fromEntries([...this.breakers].map(([n, b]) => [n, b.state()]));
  }

  /** Models the caller may use, with their registry data. */
  async models(caller: LlmCaller): Promise<Array<ModelRoute & { name: string }>> {
    const ent = await this.deps.entitlementFor(caller);
    return this.deps.registry
      .names()
      .filter((n) => !ent.models || ent.models.includes(n))
      .map((n) => this.deps.registry.get(n)!);
  }

  async chat(req: GatewayChatRequest, caller: LlmCaller): Promise<GatewayChatResult> {
    let content = '';
    const toolCalls: GatewayChatResult['toolCalls'] = [];
    for await (const c of this.run(req, caller, false)) {
      if (c.type === 'delta') content += c.text;
      else if (c.type === 'tool_call') toolCalls.push(c.call);
      else return { model: c.model, content, toolCalls, finishReason: c.finishReason, usage: c.usage, provider: c.provider, correlationId: c.correlationId, costAiDollars: c.costAiDollars, fallbackUsed: c.fallbackUsed };
    }
    throw new FlockError('internal', 'provider stream ended without a final message');
  }

  /**
   * Stream a chat. Fails over to the next route on any failure before the first token; once
   * a token has been yielded it cannot be taken back, so a later failure ends the stream
   * with an `upstream_failed` error naming the provider.
   */
  chatStream(req: GatewayChatRequest, caller: LlmCaller): AsyncIterable<GatewayChunk> {
    return this.run(req, caller, true);
  }

  async embed(req: { model: string; input: string[]; policy?: string[]; correlationId?: string }, caller: LlmCaller): Promise<EmbedResponse & { provider: string; correlationId: string; costAiDollars: number }> {
    const correlationId = req.correlationId ?? this.deps.newId();
    const estimate = Math.ceil(req.input.reduce((n, s) => n + s.length, 0) / 4);
    const { routes, ent } = await this.admit(req.model, caller, ['embed'], req.policy, Math.ceil(Math.max(0, ...req.input.map((s) => s.length)) / 4));
    const reservation = this.limiter.reserve(caller.id, ent, estimate);
    return this.attemptAll(routes, correlationId, reservation, caller, req.model, async (route, provider, timeoutMs) => {
      const r = await provider.embed({ model: route.model, input: req.input }, { timeoutMs });
      return { value: { ...r, provider: provider.name, correlationId, costAiDollars: priceUsage(route, r.usage.tokensIn, 0) }, usage: r.usage };
    });
  }

  private async admit(model: string, caller: LlmCaller, need: ModelCapability[], policy: string[] | undefined, promptTokens: number, fallbacks?: string[]) {
    const ent = await this.deps.entitlementFor(caller);
    this.limiter.checkModel(caller.id, ent, model);
    // The caller's own fallbacks (an agent manifest's) are tried only where the entitlement
    // allows: a tier that lost `large` still gets its allowed model, not a refusal.
    fallbacks = fallbacks?.filter((f) => !ent.models || ent.models.includes(f));
    const planned = this.deps.registry.plan(model, { need, providerOrder: policy ? this.expandPolicy(policy) : undefined, fallbacks });
    if (planned.length === 0) throw new FlockError('llm_unavailable', `no provider can serve "${model}" with ${need.join(', ')}${policy ? ` under policy ${policy.join(',')}` : ''}`, { model, policy });
    // Routes whose window cannot hold the prompt would only fail; skip them, and say so if none is left.
    const routes = planned.filter((r) => r.contextWindow >= promptTokens);
    if (routes.length === 0) {
      const largest = Math.max(...planned.map((r) => r.contextWindow));
      throw new FlockError('llm_context_length', `the prompt is about ${promptTokens} tokens; the largest context window among the routes for "${model}" is ${largest}`, { model, estimatedTokens: promptTokens, largestContextWindow: largest });
    }
    return { routes, ent };
  }

  private expandPolicy(policy: string[]): string[] {
    const out: string[] = [];
    for (const p of policy) {
      if (p === 'local' || p === 'cloud') {
        for (const prov of this.providers.values()) if (LOCAL_KINDS.has(prov.kind) === (p === 'local')) out.push(prov.name);
      } else if (this.providers.has(p)) out.push(p);
      else throw new FlockError('validation_failed', `policy names unknown provider "${p}"; use local, cloud or one of: ${this.providerNames().join(', ')}`, { policy });
    }
    return out;
  }

  private async *run(req: GatewayChatRequest, caller: LlmCaller, streaming: boolean): AsyncGenerator<GatewayChunk> {
    const correlationId = req.correlationId ?? this.deps.newId();
    const need: ModelCapability[] = ['chat'];
    if (req.tools && req.tools.length > 0) need.push('tools');
    const promptTokens = estimatePromptTokens(req.messages);
    const { routes, ent } = await this.admit(req.model, caller, need, req.policy, promptTokens, req.fallbacks);
    const estimate = promptTokens + (req.maxTokens ?? this.deps.policy.defaultMaxTokens);
    const reservation = this.limiter.reserve(caller.id, ent, estimate);
    const started = this.deps.clock.now().getTime();
    const deadline = started + this.deps.policy.deadlineMs;
    let attempts = 0;
    let fallbackUsed = false;
    let last: LlmProviderError | null = null;
    let settled = false;
    let reported = false;
    // What a stream already delivered: charged even when it never finishes.
    let outChars = 0;
    let current: { route: ModelRoute; provider: string; breaker: CircuitBreaker } | null = null;
    const partialUsage = (): Usage => ({ tokensIn: promptTokens, tokensOut: Math.ceil(outChars / 4) });
    try {
      for (const [i, route] of routes.entries()) {
        const provider = this.providers.get(route.provider)!;
        const breaker = this.breakers.get(route.provider)!;
        current = { route, provider: provider.name, breaker };
        if (i > 0) fallbackUsed = true;
        for (let attempt = 1; attempt <= this.deps.policy.attemptsPerProvider; attempt++) {
          const remaining = deadline - this.deps.clock.now().getTime();
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
              for await (const chunk of provider.chatStream(providerReq, { timeoutMs: Math.min(remaining, this.deps.policy.attemptTimeoutMs), signal: req.signal })) {
                if (chunk.type === 'done') {
                  breaker.success();
                  settled = true;
                  yield this.finish(chunk, route, provider.name, correlationId, caller, req.model, reservation, started, fallbackUsed, attempts);
                  return;
                }
                yielded = true;
                outChars += chunk.type === 'delta' ? chunk.text.length : JSON.stringify(chunk.call).length;
                yield chunk;
              }
              throw new LlmProviderError('upstream', provider.name, 'stream ended without a final message');
            } else {
              const r = await provider.chat(providerReq, { timeoutMs: Math.min(remaining, this.deps.policy.attemptTimeoutMs), signal: req.signal });
              breaker.success();
              if (r.content) yield { type: 'delta', text: r.content };
              for (const call of r.toolCalls) yield { type: 'tool_call', call };
              settled = true;
              yield this.finish({ type: 'done', finishReason: r.finishReason, usage: r.usage, model: r.model }, route, provider.name, correlationId, caller, req.model, reservation, started, fallbackUsed, attempts);
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
              this.report(correlationId, caller, req.model, route, provider.name, partialUsage(), started, fallbackUsed, attempts, 'interrupted');
              throw toFlockError(e, correlationId, `${provider.name} failed mid-stream after the first token: ${e.message}`);
            }
            last = e;
            if (!FAILOVER_KINDS.has(e.kind)) throw toFlockError(e, correlationId);
            this.deps.observer?.fallback?.(provider.name, e.kind);
            if (!e.retryable || attempt === this.deps.policy.attemptsPerProvider) break;
            const delay = backoffDelay(attempt, this.deps.policy.backoff, this.deps.random, e.opts.retryAfterMs);
            // A wait past the deadline is useless here; the next provider may answer now.
            if (this.deps.clock.now().getTime() + delay >= deadline) break;
            await this.deps.sleep(delay);
          }
        }
      }
      if (!last) throw new FlockError('upstream_timeout', `no provider answered "${req.model}" within ${this.deps.policy.deadlineMs} ms`, { correlationId, model: req.model });
      throw toFlockError(last, correlationId, `every route for "${req.model}" failed; last: ${last.message}`);
    } catch (err) {
      const d = err instanceof FlockError ? (err.details as { provider?: string; kind?: LlmErrorKind } | undefined) : undefined;
      if (!settled && !reported && d?.provider && d.kind) {
        this.report(correlationId, caller, req.model, null, d.provider, { tokensIn: 0, tokensOut: 0 }, started, fallbackUsed, attempts, d.kind);
      }
      throw err;
    } finally {
      if (!settled) {
        // Cancelled (a signal, or a reader that stopped): charge what was delivered, free a
        // half-open probe the call may hold, and report the call once.
        current?.breaker.releaseProbe();
        if (outChars > 0 && current) {
          reservation.settle(partialUsage().tokensIn + partialUsage().tokensOut);
          if (!reported) this.report(correlationId, caller, req.model, current.route, current.provider, partialUsage(), started, fallbackUsed, attempts, 'cancelled');
        } else {
          reservation.release();
          if (!reported && current && req.signal?.aborted) this.report(correlationId, caller, req.model, current.route, current.provider, { tokensIn: 0, tokensOut: 0 }, started, fallbackUsed, attempts, 'cancelled');
        }
      }
    }
  }

  private finish(done: Extract<ChatChunk, { type: 'done' }>, route: ModelRoute, provider: string, correlationId: string, caller: LlmCaller, model: string, reservation: Reservation, started: number, fallbackUsed: boolean, attempts: number): GatewayChunk {
    reservation.settle(done.usage.tokensIn + done.usage.tokensOut);
    const cost = this.report(correlationId, caller, model, route, provider, done.usage, started, fallbackUsed, attempts, 'ok');
    return { ...done, provider, correlationId, costAiDollars: cost, fallbackUsed };
  }

  private async attemptAll<T>(routes: Array<ModelRoute & { name: string }>, correlationId: string, reservation: Reservation, caller: LlmCaller, model: string, call: (route: ModelRoute, p: LlmProvider, timeoutMs: number) => Promise<{ value: T; usage: Usage }>): Promise<T> {
    const started = this.deps.clock.now().getTime();
    const deadline = started + this.deps.policy.deadlineMs;
    let last: LlmProviderError | null = null;
    let attempts = 0;
    try {
      for (const [i, route] of routes.entries()) {
        const provider = this.providers.get(route.provider)!;
        const breaker = this.breakers.get(route.provider)!;
        for (let attempt = 1; attempt <= this.deps.policy.attemptsPerProvider; attempt++) {
          const remaining = deadline - this.deps.clock.now().getTime();
          if (remaining <= 0 || !breaker.tryAcquire()) break;
          attempts += 1;
          try {
            const { value, usage } = await call(route, provider, Math.min(remaining, this.deps.policy.attemptTimeoutMs));
            breaker.success();
            reservation.settle(usage.tokensIn + usage.tokensOut);
            this.report(correlationId, caller, model, route, provider.name, usage, started, i > 0, attempts, 'ok');
            return value;
          } catch (err) {
            const e = asProviderError(err, provider.name);
            if (e.retryable || e.kind === 'auth') breaker.failure();
            last = e;
            if (!FAILOVER_KINDS.has(e.kind)) throw toFlockError(e, correlationId);
            this.deps.observer?.fallback?.(provider.name, e.kind);
            if (!e.retryable) break;
            const delay = backoffDelay(attempt, this.deps.policy.backoff, this.deps.random, e.opts.retryAfterMs);
            if (attempt === this.deps.policy.attemptsPerProvider || this.deps.clock.now().getTime() + delay >= deadline) break;
            await this.deps.sleep(delay);
          }
        }
      }
      if (!last) throw new FlockError('llm_unavailable', `no provider is available for "${model}"`, { correlationId, model });
      throw toFlockError(last, correlationId, `every route for "${model}" failed; last: ${last.message}`);
    } finally {
      reservation.release();
    }
  }

  private report(correlationId: string, caller: LlmCaller, model: string, route: ModelRoute | null, provider: string | null, usage: Usage, started: number, fallbackUsed: boolean, attempts: number, outcome: LlmUsageEvent['outcome']): number {
    const cost = route ? priceUsage(route, usage.tokensIn, usage.tokensOut) : 0;
    const now = this.deps.clock.now();
    this.deps.observer?.usage?.({
      correlationId,
      caller: caller.id,
      agent: caller.agent ?? null,
      instanceId: caller.instanceId ?? null,
      model,
      provider,
      providerModel: route?.model ?? null,
      tokensIn: usage.tokensIn,
      tokensOut: usage.tokensOut,
      costAiDollars: cost,
      latencyMs: now.getTime() - started,
      fallbackUsed,
      attempts,
      outcome,
      ts: now.toISOString(),
    });
    return cost;
  }
}

/**
 * About four characters a token: a deliberate over-estimate for most tokenizers' English,
 * used only to reserve entitlement and skip routes whose window is clearly too small.
 */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  return Math.ceil(messages.reduce((n, m) => n + m.content.length + (m.toolCalls ? JSON.stringify(m.toolCalls).length : 0), 0) / 4);
}

/** Anything an adapter throws becomes a classified provider error (unknown = upstream). */
export function asProviderError(err: unknown, provider: string): LlmProviderError {
  if (err instanceof LlmProviderError) return err;
  return new LlmProviderError('upstream', provider, err instanceof Error ? err.message : String(err));
}

function toFlockError(e: LlmProviderError, correlationId: string, message?: string): FlockError {
  const details: Record<string, unknown> = { provider: e.provider, kind: e.kind, correlationId };
  if (e.opts.status !== undefined) details['providerStatus'] = e.opts.status;
  if (e.opts.retryAfterMs !== undefined) details['retryAfterMs'] = e.opts.retryAfterMs;
  return new FlockError(KIND_TO_CODE[e.kind], message ?? `${e.provider}: ${e.message}`, details);
}
