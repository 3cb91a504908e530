import type { Clock } from '../ports/clock.js';
import type { ChatChunk, ChatRequest, ChatResponse, FinishReason, LlmErrorKind, LlmProvider, Usage } from '../ports/llm-provider.js';
import type { BackoffOptions } from './backoff.js';
import type { BreakerOptions, BreakerState } from './breaker.js';
import type { Entitlement } from './entitlements.js';
import type { ModelRegistry } from './registry.js';

// The gateway's contract: who calls it, what they ask, what it answers and reports, and what
// it is built from. Apart from the class so the modules it is split into share the types.

/** Who is calling: an agent (identity from its bus subject) or an HTTP client. */
export interface LlmCaller {
  /** Key for entitlements and usage: the agent name, or the HTTP token's name. */
  id: string;
  agent?: string;
  instanceId?: string;
}

/** A provider's request, except that `model` is a registry name or alias the gateway resolves. */
export interface GatewayChatRequest extends Omit<ChatRequest, 'model'> {
  /** A registry name or alias. */
  model: string;
  /** Per-request policy (`policyOverride` in the infer request): provider names, or `local` / `cloud`. */
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
