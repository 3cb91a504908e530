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
   * True for a sentence-embedding model made for retrieval (MiniLM): hybrid search then lets
   * the model's first place stand against documents that merely share the query's words.
   * Unset for the hashing embedder (its vectors are another keyword signal) and for a model
   * behind the gateway, whose vectors may not be made for search at all (a chat model's, such
   * as the embedded test GGUF): their vector list weighs like the keyword one.
   */
  readonly semantic?: boolean;
  /**
   * An embedder behind a service learns its model and dimension from a first call: this
   * makes that call (once; again after a failure) and rejects with a clear error while the
   * service cannot answer. Callers await it before reading `model` or `dimension`.
   */
  ready?(): Promise<void>;
  /** One L2-normalised vector of `dimension` numbers per text, in order. */
  embed(texts: readonly string[]): Promise<number[][]>;
}
