import { randomUUID } from 'node:crypto';
import { LlmGateway, ModelRegistry, UsageFeed, type Clock, type LlmProvider, type RegistryEntry } from '@aiflock/core';
import { AnthropicProvider } from '../adapters/llm/anthropic.js';
import { EmbeddedProvider } from '../adapters/llm/embedded.js';
import { OllamaProvider } from '../adapters/llm/ollama.js';
import { OpenAiProvider } from '../adapters/llm/openai.js';
import type { logFn } from '../logger.js';

type LogFn = ReturnType<typeof logFn>;
import type { LlmConfig } from './config.js';
import type { LlmMetrics } from './metrics.js';
import { tierEntitlement, type TierSource } from './economy-bridge.js';

export interface LlmSetup {
  /** Null when no provider is available: agents then use their non-LLM policy. */
  gateway: LlmGateway | null;
  usage: UsageFeed;
  /** One plain sentence for /v1/status. */
  detail: string;
  close(): Promise<void>;
}

/** Detected registries put one chat model behind every alias, the tier names included. */
const ALIASES = ['default', 'fast', 'coder', 'small', 'medium', 'large'] as const;

function makeProvider(name: string, p: LlmConfig['providers'][string]): LlmProvider {
  switch (p.kind) {
    case 'ollama':
      return new OllamaProvider(name, p.url!, p.apiKey);
    case 'openai':
      return new OpenAiProvider(name, p.url!, p.apiKey);
    case 'anthropic':
      return new AnthropicProvider(name, p.url!, p.apiKey);
    case 'embedded':
      return new EmbeddedProvider(name, { modelPath: p.modelFile!, threads: p.threads, contextSize: p.contextSize });
  }
}

const entry = (name: string, provider: string, model: string, capabilities: RegistryEntry['capabilities'], contextWindow: number, fallbacks: string[] = []): RegistryEntry => ({
  name,
  provider,
  model,
  capabilities,
  contextWindow,
  pricePer1kIn: 0,
  pricePer1kOut: 0,
  fallbacks,
});

/**
 * Build the gateway from config. With a registry configured, use it as written. Without one,
 * follow the embedded default: Ollama on localhost if it answers (its first model behind the
 * aliases), else the embedded GGUF model if one is configured, else no LLM, said plainly.
 */
export async function setupLlm(cfg: LlmConfig, deps: { clock: Clock; log: LogFn; metrics: LlmMetrics; tiers?: TierSource }): Promise<LlmSetup> {
  const usage = new UsageFeed((err) => deps.log('error', `LLM usage listener failed: ${String(err)}`));
  const providers = new Map<string, LlmProvider>(Object.entries(cfg.providers).map(([name, p]) => [name, makeProvider(name, p)]));
  let entries: RegistryEntry[];
  let detail: string;

  if (Object.keys(cfg.models).length > 0) {
    entries = Object.entries(cfg.models).map(([name, m]) => ({ name, ...m }));
    detail = `${entries.length} models on ${[...new Set(entries.map((e) => e.provider))].join(', ')} (configured)`;
  } else {
    entries = [];
    const details: string[] = [];
    const ollamaUrl = cfg.providers['ollama']?.url ?? cfg.detectOllamaUrl;
    const probe = providers.get('ollama') ?? new OllamaProvider('ollama', ollamaUrl);
    const found = await probe.listModels({ timeoutMs: 1_500 }).catch((err: unknown) => {
      details.push(`Ollama did not answer at ${ollamaUrl} (${err instanceof Error ? err.message : String(err)})`);
      return null;
    });
    const embedded = Object.entries(cfg.providers).find(([, p]) => p.kind === 'embedded');
    if (found && found.length > 0) {
      providers.set('ollama', probe);
      const chat = found.find((m) => !/embed/i.test(m.name)) ?? found[0]!;
      const embed = found.find((m) => /embed/i.test(m.name));
      const fallback = embedded ? ['embedded-fallback'] : [];
      for (const a of ALIASES) entries.push(entry(a, 'ollama', chat.name, ['chat', 'tools', 'json', 'stream'], 8192, fallback));
      if (embed) entries.push(entry('embed', 'ollama', embed.name, ['embed'], 8192));
      if (embedded) entries.push(entry('embedded-fallback', embedded[0], 'embedded', ['chat', 'json', 'stream', 'embed'], embedded[1].contextSize));
      detail = `Ollama at ${ollamaUrl}, model ${chat.name} behind ${ALIASES.join('/')}${embedded ? `, falling back to the embedded model ${embedded[1].modelFile}` : ''} (detected)`;
    } else if (embedded) {
      if (found) details.push(`Ollama at ${ollamaUrl} has no models`);
      for (const a of ALIASES) entries.push(entry(a, embedded[0], 'embedded', ['chat', 'json', 'stream'], embedded[1].contextSize));
      entries.push(entry('embed', embedded[0], 'embedded', ['embed'], embedded[1].contextSize));
      detail = `embedded model ${embedded[1].modelFile} behind ${ALIASES.join('/')}/embed; ${details.join('; ')}`;
    } else {
      if (found) details.push(`Ollama at ${ollamaUrl} has no models`);
      detail = `no LLM provider: ${details.join('; ')}; no embedded model is configured (AIFLOCK_LLM_MODEL_FILE). Agents use their non-LLM policy.`;
      for (const p of providers.values()) await p.close?.();
      return { gateway: null, usage, detail, close: async () => undefined };
    }
  }

  const p = cfg.policy;
  const gateway = new LlmGateway({
    providers: [...providers.values()],
    registry: new ModelRegistry(entries),
    policy: {
      attemptsPerProvider: p.attemptsPerProvider,
      backoff: { baseMs: p.backoffBaseMs, maxMs: p.backoffMaxMs },
      deadlineMs: p.deadlineMs,
      attemptTimeoutMs: p.attemptTimeoutMs,
      breaker: { failureThreshold: p.breakerFailures, cooldownMs: p.breakerCooldownMs },
      defaultMaxTokens: p.defaultMaxTokens,
    },
    // Agents get their compute tier from the ledger (when the economy is wired in); HTTP
    // callers (tokens) get what config gives them.
    entitlementFor: (caller) => {
      const tiers = deps.tiers;
      if (caller.agent && tiers) return tiers.entitlementsFor(caller.agent).then((e) => tierEntitlement(e, tiers.tiers));
      return cfg.entitlements.callers[caller.id] ?? cfg.entitlements.default;
    },
    clock: deps.clock,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    random: Math.random,
    newId: randomUUID,
    observer: {
      ...deps.metrics.observer,
      breaker: (provider, state) => deps.log(state === 'open' ? 'warn' : 'info', `LLM provider ${provider}: circuit ${state.replace('_', '-')}`, { provider, state }),
      usage: (e) => {
        deps.metrics.observer.usage?.(e);
        usage.publish(e);
      },
    },
  });
  deps.metrics.watchBreakers(() => gateway.breakerStates());
  return {
    gateway,
    usage,
    detail,
    close: async () => {
      for (const prov of providers.values()) await prov.close?.().catch(() => undefined);
    },
  };
}
