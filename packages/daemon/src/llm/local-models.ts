import { FlockError } from '@aiflock/core';
import type { LocalModelList, ModelPin, ModelPullProgress } from '@aiflock/protocol';
import { OllamaModels, type OllamaModel } from '../adapters/llm/ollama-models.js';
import type { logFn } from '../logger.js';
import type { LlmConfig } from './config.js';

type LogFn = ReturnType<typeof logFn>;

/** How long a warm-up may take: loading a large model from disk is slow. */
const WARM_UP_TIMEOUT_MS = 300_000;
const DEFAULT_KEEP_ALIVE = '30m';

/**
 * The flock's local models, on its Ollama providers: list, pull and remove them (`aiflock
 * models`), check the versions the config pins (`llm.models.<alias>.digest`) and warm up the
 * models that ask for it. Follows the llm section as reloaded.
 */
export class LocalModels {
  private pins: ModelPin[] = [];

  constructor(
    private cfg: LlmConfig,
    private readonly log: LogFn,
  ) {}

  /** A reloaded llm section: pins and warm-ups are those of the new one from now on. */
  configure(cfg: LlmConfig): void {
    this.cfg = cfg;
  }

  /** The pins as last checked (start, reload, `models list`), for `aiflock status`. */
  lastPins(): ModelPin[] {
    return this.pins;
  }

  /** The Ollama provider named, or the only one; anything else is a clear refusal. */
  server(provider?: string): OllamaModels {
    const providers = Object.entries(this.cfg.providers);
    const ollamas = providers.filter(([, p]) => p.kind === 'ollama');
    if (provider) {
      const p = this.cfg.providers[provider];
      if (!p) throw new FlockError('validation_failed', `no LLM provider "${provider}"; configured: ${providers.map(([n, q]) => `${n} (${q.kind})`).join(', ') || '(none)'}`, { field: 'provider', value: provider });
      if (p.kind !== 'ollama') throw unmanaged(`provider "${provider}" is ${p.kind}: only an Ollama provider's models can be listed, pulled or removed`);
      return new OllamaModels(provider, p.url!, p.apiKey);
    }
    if (ollamas.length === 1) return new OllamaModels(ollamas[0]![0], ollamas[0]![1].url!, ollamas[0]![1].apiKey);
    if (ollamas.length > 1) throw new FlockError('validation_failed', `several Ollama providers are configured (${ollamas.map(([n]) => n).join(', ')}): name one with --provider`, { field: 'provider' });
    // Detected Ollama (no llm section): the same server the gateway found.
    if (providers.length === 0) return new OllamaModels('ollama', this.cfg.detectOllamaUrl);
    throw unmanaged(`the LLM providers are ${providers.map(([n, p]) => `${n} (${p.kind})`).join(', ')}: model management needs an Ollama provider`);
  }

  async list(provider?: string): Promise<LocalModelList> {
    const server = this.server(provider);
    const models = await server.list();
    const aliases = (m: OllamaModel) => Object.entries(this.cfg.models).filter(([, e]) => e.provider === server.provider && sameModel(e.model, m.name)).map(([a]) => a);
    const pins = this.pinsOf(server.provider, models);
    this.remember(server.provider, pins);
    return { provider: server.provider, url: server.url, models: models.map((m) => ({ ...m, aliases: aliases(m) })), pins };
  }

  pull(name: string, provider: string | undefined, signal: AbortSignal): AsyncGenerator<ModelPullProgress> {
    const server = this.server(provider);
    const log = this.log;
    return (async function* () {
      log('info', `pulling model ${name} on ${server.provider}`, { provider: server.provider, model: name });
      let last: ModelPullProgress = {};
      for await (const p of server.pull(name, signal)) {
        last = p;
        if (p.status === 'success') break;
        yield p;
      }
      if (last.status !== 'success') throw new FlockError('upstream_failed', `pulling "${name}" on ${server.provider} ended without success (last: ${JSON.stringify(last)})`, { provider: server.provider });
      // Ollama's last line carries no digest: the one it now holds is what the caller pins.
      const held = (await server.list()).find((m) => sameModel(name, m.name));
      log('info', `pulled model ${name} on ${server.provider}: ${held?.digest ?? 'digest unknown'}`, { provider: server.provider, model: name });
      yield { status: 'success', ...(held ? { digest: held.digest } : {}) };
    })();
  }

  async remove(name: string, provider?: string): Promise<{ provider: string; name: string; deleted: true }> {
    const server = this.server(provider);
    await server.remove(name);
    this.log('info', `removed model ${name} from ${server.provider}`, { provider: server.provider, model: name });
    return { provider: server.provider, name, deleted: true };
  }

  /**
   * At start and on reload: check every pin against its server and load the models that ask
   * to be warmed. Problems are logged, never fatal: a server that is down now may be up later.
   */
  async startUp(): Promise<void> {
    const byProvider = new Map<string, Array<[string, LlmConfig['models'][string]]>>();
    for (const [alias, m] of Object.entries(this.cfg.models)) {
      if (this.cfg.providers[m.provider]?.kind !== 'ollama' || (!m.digest && !m.warmUp)) continue;
      byProvider.set(m.provider, [...(byProvider.get(m.provider) ?? []), [alias, m]]);
    }
    this.pins = [];
    await Promise.all(
      [...byProvider].map(async ([provider, entries]) => {
        const server = this.server(provider);
        if (entries.some(([, m]) => m.digest)) {
          try {
            const pins = this.pinsOf(provider, await server.list());
            this.remember(provider, pins);
            for (const pin of pins) {
              const model = this.cfg.models[pin.alias]!.model;
              if (pin.state === 'ok') this.log('info', `model ${model} (${pin.alias}) on ${provider} is the pinned ${pin.digest}`, { provider, model });
              else this.log('warn', `model ${model} (${pin.alias}) on ${provider} is ${pin.state === 'missing' ? 'not there' : 'not the pinned version'}: pinned ${pin.digest}; run aiflock models pull ${model}, or change the pin`, { provider, model, pin: pin.state });
            }
          } catch (err) {
            this.log('warn', `could not check the pinned models on ${provider}: ${(err as Error).message}`, { provider });
          }
        }
        for (const [alias, m] of entries.filter(([, e]) => e.warmUp)) await this.warm(server, alias, m.model, m.keepAlive ?? DEFAULT_KEEP_ALIVE);
      }),
    );
  }

  private async warm(server: OllamaModels, alias: string, model: string, keepAlive: string): Promise<void> {
    const started = Date.now();
    this.log('info', `warming up model ${model} (${alias}) on ${server.provider}, keep_alive ${keepAlive}`, { provider: server.provider, model });
    try {
      await server.warm(model, keepAlive, WARM_UP_TIMEOUT_MS);
      this.log('info', `model ${model} (${alias}) on ${server.provider} is loaded (${Date.now() - started} ms)`, { provider: server.provider, model });
    } catch (err) {
      this.log('warn', `warming up model ${model} (${alias}) on ${server.provider} failed: ${(err as Error).message}`, { provider: server.provider, model });
    }
  }

  private pinsOf(provider: string, held: OllamaModel[]): ModelPin[] {
    return Object.entries(this.cfg.models)
      .filter(([, m]) => m.provider === provider && m.digest)
      .map(([alias, m]) => {
        const found = held.find((h) => sameModel(m.model, h.name));
        return { alias, digest: m.digest!, state: !found ? 'missing' : found.digest === m.digest ? 'ok' : 'mismatch' };
      });
  }

  /** Pins of one provider replace what was known of it; the others' stay. */
  private remember(provider: string, pins: ModelPin[]): void {
    const others = this.pins.filter((p) => this.cfg.models[p.alias]?.provider !== provider);
    this.pins = [...others, ...pins];
  }
}

/** `llama3` is `llama3:latest` to Ollama. */
export const sameModel = (a: string, b: string) => withTag(a) === withTag(b);
const withTag = (name: string) => (name.includes(':') ? name : `${name}:latest`);

const unmanaged = (message: string) => new FlockError('llm_models_unmanaged', message);
