import type { Embedder } from '../ports/embedder.js';

/**
 * A preferred embedder (a local model) with a fallback (the hashing embedder) for when the
 * preferred one cannot load. The choice is made once, by the first `ready()`: after the model
 * has loaded, later failures are the model's errors, never a silent switch, because vectors
 * of two models in one collection could not be compared. `fellBack` says why the fallback is
 * in use (null while the preferred one is, or before the choice).
 */
export class FallbackEmbedder implements Embedder {
  private chosen: Embedder | null = null;
  private choosing: Promise<void> | null = null;
  fellBack: string | null = null;

  constructor(
    readonly preferred: Embedder,
    readonly fallback: Embedder,
  ) {}

  get model(): string {
    return this.current().model;
  }

  get dimension(): number {
    return this.current().dimension;
  }

  get semantic(): boolean {
    return this.current().semantic === true;
  }

  /** The embedder in use; the preferred one until the choice falls the other way. */
  current(): Embedder {
    return this.chosen ?? this.preferred;
  }

  ready(): Promise<void> {
    if (this.chosen) return this.chosen.ready?.() ?? Promise.resolve();
    this.choosing ??= (async () => {
      try {
        await this.preferred.ready?.();
        this.chosen = this.preferred;
      } catch (err) {
        this.fellBack = err instanceof Error ? err.message : String(err);
        this.chosen = this.fallback;
        await this.fallback.ready?.();
      }
    })();
    return this.choosing;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    await this.ready();
    return this.chosen!.embed(texts);
  }
}
