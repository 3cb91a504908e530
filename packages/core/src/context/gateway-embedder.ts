import { FlockError } from '../errors.js';
import type { LlmCaller } from '../llm/gateway.js';
import type { Embedder } from '../ports/embedder.js';
import { l2normalise } from './vectors.js';

/** What the embedder needs of the LLM gateway (`LlmGateway` has it). */
export interface EmbeddingGateway {
  registry: { plan(name: string, opts: { need: ['embed'] }): { provider: string; model: string }[] };
  embed(req: { model: string; input: string[]; policy?: string[] }, caller: LlmCaller): Promise<{ model: string; provider: string; embeddings: number[][] }>;
}

/** The caller the gateway sees (entitlements, usage rows): the context plane itself. */
export const CONTEXT_PLANE_CALLER: LlmCaller = { id: 'context-plane' };

const PROBE = 'dimension probe';

/**
 * Embeds through the LLM gateway's `embed` alias (Ollama, an OpenAI-compatible server or the
 * embedded model), so the context plane uses whatever model the gateway is configured with.
 * The model is recorded as `<provider>/<model the provider reports>` and the dimension is
 * what it returns for a probe; both are then checked on every answer, because a collection's
 * vectors are only comparable when one model made them all. For the same reason every call is
 * pinned to the alias's first provider: the gateway must not fail over to another provider,
 * whose model would make vectors that cannot be compared. Vectors are L2-normalised (not every
 * provider does), so cosine similarity is a dot product as the indexes expect.
 */
export class GatewayEmbedder implements Embedder {
  private known: { provider: string; reported: string; model: string; dimension: number } | null = null;
  private probing: Promise<void> | null = null;

  constructor(
    private readonly gateway: EmbeddingGateway,
    readonly alias = 'embed',
    private readonly caller: LlmCaller = CONTEXT_PLANE_CALLER,
  ) {}

  /** The provider the alias routes to first: where every call goes. */
  get provider(): string {
    const [route] = this.gateway.registry.plan(this.alias, { need: ['embed'] });
    if (!route) throw new FlockError('llm_unavailable', `the LLM gateway's "${this.alias}" alias has no route that can embed`, { model: this.alias });
    return route.provider;
  }

  get model(): string {
    return this.state().model;
  }

  get dimension(): number {
    return this.state().dimension;
  }

  private state() {
    if (!this.known) throw new Error(`the embedder behind the gateway's "${this.alias}" alias was used before ready() resolved`);
    return this.known;
  }

  ready(): Promise<void> {
    if (this.known) return Promise.resolve();
    this.probing ??= (async () => {
      try {
        const provider = this.provider;
        const r = await this.call([PROBE], provider);
        const dimension = r.embeddings[0]?.length ?? 0;
        if (dimension === 0) throw new FlockError('upstream_failed', `${provider} answered the "${this.alias}" probe without a vector`, { provider });
        this.known = { provider, reported: r.model, model: `${provider}/${r.model}`, dimension };
      } catch (err) {
        this.probing = null; // the next caller tries again
        throw unavailable(this.alias, err);
      }
    })();
    return this.probing;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    await this.ready();
    const k = this.known!;
    if (texts.length === 0) return [];
    const r = await this.call([...texts], k.provider).catch((err: unknown) => {
      throw unavailable(this.alias, err);
    });
    if (r.provider !== k.provider || r.model !== k.reported) {
      throw new FlockError(
        'embedding_mismatch',
        `the gateway's "${this.alias}" alias now answers with ${r.provider}/${r.model}, not ${k.model} which the context plane started with; restart the daemon to use the new model, then re-index (aiflock context reindex <collection>)`,
        { expected: k.model, got: `${r.provider}/${r.model}` },
      );
    }
    if (r.embeddings.length !== texts.length) {
      throw new FlockError('upstream_failed', `${k.provider} returned ${r.embeddings.length} vectors for ${texts.length} texts`, { provider: k.provider });
    }
    return r.embeddings.map((v) => l2normalise([...v]));
  }

  private call(input: string[], provider: string) {
    return this.gateway.embed({ model: this.alias, input, policy: [provider] }, this.caller);
  }
}

/** Whatever went wrong, say which alias the context plane depends on and what to do. */
function unavailable(alias: string, err: unknown): FlockError {
  if (err instanceof FlockError && (err.code === 'embedding_mismatch' || err.code === 'llm_unavailable')) return err;
  const why = err instanceof Error ? err.message : String(err);
  const details = err instanceof FlockError ? { alias, cause: err.code, causeDetails: err.details } : { alias };
  return new FlockError('llm_unavailable', `the context plane embeds with the LLM gateway's "${alias}" alias, which cannot answer now: ${why}`, details);
}
