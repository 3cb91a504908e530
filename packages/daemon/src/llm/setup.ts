import { randomUUID } from 'node:crypto';
import { FlockError, LlmGateway, ModelRegistry, UsageFeed, type Clock, type LlmProvider, type RegistryEntry } from '@aiflock/core';
import type { LlmReloaded } from '@aiflock/protocol';
import { AnthropicProvider } from '../adapters/llm/anthropic.js';
import { EmbeddedProvider } from '../adapters/llm/embedded.js';
import { OllamaProvider } from '../adapters/llm/ollama.js';
import { OpenAiProvider } from '../adapters/llm/openai.js';
import type { logFn } from '../logger.js';

type LogFn = ReturnType<typeof logFn>;
import type { LlmConfig } from './config.js';
import type { LlmMetrics } from './metrics.js';
import { tierEntitlement, type TierSource } from './economy-bridge.js';
import { LocalModels } from './local-models.js';

export interface LlmSetup {
  /** Null when no provider is available: agents then use their non-LLM policy. */
  gateway: LlmGateway | null;
  usage: UsageFeed;
  /** One plain sentence for /v1/status (what the last reload made it). */
  readonly detail: string;
  /** The local model server's models, pins and warm-ups (`aiflock models`). */
  models: LocalModels;
  /**
   * Apply a re-read llm section (`aiflock llm reload`, SIGHUP): providers, registry, policy and
   * callers' entitlements for every call from now on; refused, changing nothing, when invalid.
   */
  reload(next: LlmConfig): Promise<LlmReloaded>;
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

interface Resolved {
  providers: Map<string, LlmProvider>;
  /** Empty: no provider is available. */
  entries: RegistryEntry[];
  detail: string;
}

/**
 * The providers and registry of an llm section. With a registry configured, use it as
 * written. Without one, follow the embedded default: Ollama on localhost if it answers (its
 * first model behind the aliases), else the embedded GGUF model if one is configured, else
 * no LLM, said plainly.
 */
async function resolve(cfg: LlmConfig): Promise<Resolved> {
  const providers = new Map<string, LlmProvider>(Object.entries(cfg.providers).map(([name, p]) => [name, makeProvider(name, p)]));
  const entries: RegistryEntry[] = [];
  if (Object.keys(cfg.models).length > 0) {
    // digest, warmUp and keepAlive are the local models' business (LocalModels), not routing's.
    for (const [name, { digest: _d, warmUp: _w, keepAlive: _k, ...m }] of Object.entries(cfg.models)) entries.push({ name, ...m });
    return { providers, entries, detail: `${entries.length} models on ${[...new Set(entries.map((e) => e.provider))].join(', ')} (configured)` };
  }
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
    return { providers, entries, detail: `Ollama at ${ollamaUrl}, model ${chat.name} behind ${ALIASES.join('/')}${embedded ? `, falling back to the embedded model ${embedded[1].modelFile}` : ''} (detected)` };
  }
  if (embedded) {
    if (found) details.push(`Ollama at ${ollamaUrl} has no models`);
    for (const a of ALIASES) entries.push(entry(a, embedded[0], 'embedded', ['chat', 'json', 'stream'], embedded[1].contextSize));
    entries.push(entry('embed', embedded[0], 'embedded', ['embed'], embedded[1].contextSize));
    return { providers, entries, detail: `embedded model ${embedded[1].modelFile} behind ${ALIASES.join('/')}/embed; ${details.join('; ')}` };
  }
  if (found) details.push(`Ollama at ${ollamaUrl} has no models`);
  for (const p of providers.values()) await p.close?.();
  return { providers: new Map(), entries, detail: `no LLM provider: ${details.join('; ')}; no embedded model is configured (AIFLOCK_LLM_MODEL_FILE). Agents use their non-LLM policy.` };
}

const gatewayPolicy = (p: LlmConfig['policy']) => ({
  attemptsPerProvider: p.attemptsPerProvider,
  backoff: { baseMs: p.backoffBaseMs, maxMs: p.backoffMaxMs },
  deadlineMs: p.deadlineMs,
  attemptTimeoutMs: p.attemptTimeoutMs,
  breaker: { failureThreshold: p.breakerFailures, cooldownMs: p.breakerCooldownMs },
  defaultMaxTokens: p.defaultMaxTokens,
});

/** Build the gateway from config (see resolve), and what reloads it. */
export async function setupLlm(cfg: LlmConfig, deps: { clock: Clock; log: LogFn; metrics: LlmMetrics; tiers?: TierSource }): Promise<LlmSetup> {
  const usage = new UsageFeed((err) => deps.log('error', `LLM usage listener failed: ${String(err)}`));
  const models = new LocalModels(cfg, deps.log);
  const first = await resolve(cfg);
  let providers = first.providers;
  let detail = first.detail;
  const entries = first.entries;
  if (entries.length === 0) {
    return {
      gateway: null,
      usage,
      models,
      get detail() {
        return detail;
      },
      reload: () => Promise.reject(new FlockError('not_ready', `the daemon started without an LLM provider (${detail}); restart it to add one`)),
      close: async () => undefined,
    };
  }
  // The entitlements of HTTP callers follow a reload too.
  let current = cfg;

  const gateway = new LlmGateway({
    providers: [...providers.values()],
    registry: new ModelRegistry(entries),
    policy: gatewayPolicy(cfg.policy),
    // Agents get their compute tier from the ledger (when the economy is wired in); HTTP
    // callers (tokens) get what config gives them.
    entitlementFor: (caller) => {
      const tiers = deps.tiers;
      if (caller.agent && tiers) return tiers.entitlementsFor(caller.agent).then((e) => tierEntitlement(e, tiers.tiers));
      return current.entitlements.callers[caller.id] ?? current.entitlements.default;
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
  const reload = async (next: LlmConfig): Promise<LlmReloaded> => {
    const r = await resolve(next);
    if (r.entries.length === 0) throw new FlockError('validation_failed', `the reloaded llm section leaves no provider (${r.detail}); the gateway keeps what it had`);
    // Throws, changing nothing, when the registry names a provider it does not have.
    const dropped = gateway.reconfigure({ providers: [...r.providers.values()], registry: new ModelRegistry(r.entries), policy: gatewayPolicy(next.policy) });
    providers = r.providers;
    detail = r.detail;
    current = next;
    models.configure(next);
    for (const p of dropped) await p.close?.().catch(() => undefined);
    deps.log('info', `LLM gateway reloaded: ${detail}`);
    void models.startUp();
    return { providers: [...providers.keys()], models: gateway.registry.names(), detail };
  };
  return {
    gateway,
    usage,
    models,
    get detail() {
      return detail;
    },
    reload,
    close: async () => {
      for (const prov of providers.values()) await prov.close?.().catch(() => undefined);
    },
  };
}
