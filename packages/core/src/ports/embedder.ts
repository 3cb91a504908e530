/**
 * Turns texts into vectors. `model` and `dimension` are recorded per collection, so vectors
 * from different models are never compared. Adapters: the LLM gateway's `embed` alias
 * (`context/gateway-embedder.ts`) and the in-tree feature-hashing embedder (no model).
 */
export interface Embedder {
  /** Valid once `ready()` has resolved (always, for an embedder without `ready`). */
  readonly model: string;
  readonly dimension: number;
  /**
   * True when vectors come from the words themselves, not their meaning (the hashing
   * embedder): hybrid search then weighs its vector list like the keyword one.
   */
  readonly lexical?: boolean;
  /**
   * An embedder behind a service learns its model and dimension from a first call: this
   * makes that call (once; again after a failure) and rejects with a clear error while the
   * service cannot answer. Callers await it before reading `model` or `dimension`.
   */
  ready?(): Promise<void>;
  /** One L2-normalised vector of `dimension` numbers per text, in order. */
  embed(texts: readonly string[]): Promise<number[][]>;
}
