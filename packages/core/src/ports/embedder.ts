/**
 * Turns texts into vectors. `model` and `dimension` are recorded per collection, so vectors
 * from different models are never compared. Adapters: the in-tree feature-hashing embedder
 * (no external service) and, later, the LLM gateway's `embed` alias.
 */
export interface Embedder {
  readonly model: string;
  readonly dimension: number;
  /** One L2-normalised vector of `dimension` numbers per text, in order. */
  embed(texts: readonly string[]): Promise<number[][]>;
}
