import { FlockError } from '../errors.js';
import type { ChatMessage, EmbedResponse, LlmProvider } from '../ports/llm-provider.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { EntitlementLimiter } from './entitlements.js';
import { attemptRoutes, chatOverRoutes, type Failover } from './failover.js';
import type { GatewayChatRequest, GatewayChatResult, GatewayChunk, GatewayDeps, LlmCaller } from './gateway-types.js';
import { priceUsage, type ModelCapability, type ModelRegistry, type ModelRoute } from './registry.js';

// The contract types and the provider-error classification have their own modules (the
// failover loops share them); they stay exported from here.
export type * from './gateway-types.js';
export { asProviderError } from './provider-errors.js';

const LOCAL_KINDS = new Set(['ollama', 'embedded']);

function checkRegistry(deps: GatewayDeps): void {
  const names = new Set(deps.providers.map((p) => p.name));
  for (const name of deps.registry.names()) {
    const e = deps.registry.get(name)!;
    if (!names.has(e.provider)) throw new FlockError('validation_failed', `llm registry: "${name}" uses unknown provider "${e.provider}"`);
  }
}

/**
 * The LLM gateway's routing core: resolves a model name to routes, enforces the caller's
 * entitlement (reserve, then settle), tries providers in order with jittered retries inside
 * one deadline, keeps a circuit breaker per provider, and reports priced usage.
 */
export class LlmGateway {
  readonly limiter: EntitlementLimiter;
  private providers = new Map<string, LlmProvider>();
  private breakers = new Map<string, CircuitBreaker>();
  /** The providers, their breakers and the ports, as the failover loops see them (the same maps). */
  private failover: Failover;

  constructor(private deps: GatewayDeps) {
    checkRegistry(deps);
    this.failover = this.install(deps.providers);
    this.limiter = new EntitlementLimiter(deps.clock, (c, l) => deps.observer?.refused?.(c, l));
  }

  /**
   * A reloaded llm section: new providers, registry and policy, for every call from now on
   * (calls under way finish on what they started with). Entitlement counters are kept; the
   * breakers start closed. Checked before anything changes. Returns the providers it no
   * longer uses, for the caller to close.
   */
  reconfigure(next: Pick<GatewayDeps, 'providers' | 'registry' | 'policy'>): LlmProvider[] {
    const deps = { ...this.deps, ...next };
    checkRegistry(deps);
    const kept = new Set(next.providers);
    const dropped = [...this.providers.values()].filter((p) => !kept.has(p));
    this.deps = deps;
    this.failover = this.install(next.providers);
    return dropped;
  }

  /** New maps, not cleared ones: a call under way keeps the failover it started with. */
  private install(providers: readonly LlmProvider[]): Failover {
    const deps = this.deps;
    this.providers = new Map(providers.map((p) => [p.name, p]));
    this.breakers = new Map(providers.map((p) => [p.name, new CircuitBreaker(p.name, deps.policy.breaker, deps.clock, (name, s) => deps.observer?.breaker?.(name, s))]));
    return { providers: this.providers, breakers: this.breakers, deps };
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
    return attemptRoutes(this.failover, routes, correlationId, reservation, caller, req.model, async (route, provider, timeoutMs) => {
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
    const providerOrder = policy ? this.expandPolicy(policy) : undefined;
    const planned = this.deps.registry.plan(model, { need, providerOrder, fallbacks });
    if (planned.length === 0) throw this.unservable(model, need, providerOrder, fallbacks, policy);
    // Routes whose window cannot hold the prompt would only fail; skip them, and say so if none is left.
    const routes = planned.filter((r) => r.contextWindow >= promptTokens);
    if (routes.length === 0) {
      const largest = Math.max(...planned.map((r) => r.contextWindow));
      throw new FlockError('llm_context_length', `the prompt is about ${promptTokens} tokens; the largest context window among the routes for "${model}" is ${largest}`, { model, estimatedTokens: promptTokens, largestContextWindow: largest });
    }
    return { routes, ent };
  }

  /**
   * Why no route is left. A model that cannot do what the request asks (tools, JSON output,
   * embeddings) is the caller's mistake, so a 400 that names the models that can; only when
   * routes with the capabilities exist but the policy leaves none is it unavailability (503),
   * which clients rightly retry.
   */
  private unservable(model: string, need: ModelCapability[], providerOrder: string[] | undefined, fallbacks: string[] | undefined, policy: string[] | undefined): FlockError {
    const capable = this.deps.registry.plan(model, { need, fallbacks });
    if (capable.length > 0) return new FlockError('llm_unavailable', `no provider can serve "${model}" with ${need.join(', ')} under policy ${policy?.join(',') ?? ''}`, { model, policy });
    const offered = new Set(this.deps.registry.plan(model, { fallbacks }).flatMap((r) => r.capabilities));
    const missing = need.filter((c) => !offered.has(c));
    const able = this.deps.registry.names().filter((n) => need.every((c) => this.deps.registry.get(n)!.capabilities.includes(c)));
    return new FlockError(
      'llm_capability_unsupported',
      `model "${model}" cannot do ${missing.join(', ') || need.join(', ')} (it offers ${[...offered].join(', ') || 'nothing'}); ${able.length ? `models that can: ${able.join(', ')}` : 'no configured model can'}`,
      { model, need, missing, capable: able },
    );
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
    if (req.format !== undefined) need.push('json');
    const promptTokens = estimatePromptTokens(req.messages);
    const { routes, ent } = await this.admit(req.model, caller, need, req.policy, promptTokens, req.fallbacks);
    const estimate = promptTokens + (req.maxTokens ?? this.deps.policy.defaultMaxTokens);
    const reservation = this.limiter.reserve(caller.id, ent, estimate);
    yield* chatOverRoutes(this.failover, { req, caller, streaming, correlationId, routes, reservation, promptTokens });
  }
}

/**
 * About four characters a token: a deliberate over-estimate for most tokenizers' English,
 * used only to reserve entitlement and skip routes whose window is clearly too small.
 */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  return Math.ceil(messages.reduce((n, m) => n + m.content.length + (m.toolCalls ? JSON.stringify(m.toolCalls).length : 0), 0) / 4);
}
