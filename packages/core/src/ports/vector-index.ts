/** A nearest-neighbour hit: `score` is the cosine similarity (vectors are L2-normalised). */
export interface VectorHit {
  id: string;
  score: number;
}

/**
 * Where chunk vectors are searched. The chunk rows in the store always keep their vector
 * (the source of truth, which export reads); an index is a searchable copy that can be
 * rebuilt from them, so switching index by configuration loses nothing.
 */
export interface VectorIndex {
  /** `store` (in-process, persisted in the store) or `pgvector`. */
  readonly kind: string;
  /** Bring the index in line with the store (after a restart or a switch of index). */
  init(): Promise<void>;
  upsert(collection: string, entries: readonly { id: string; vector: readonly number[] }[]): Promise<void>;
  remove(collection: string, ids: readonly string[]): Promise<void>;
  dropCollection(collection: string): Promise<void>;
  /** The `k` nearest among `allowed` ids (all of the collection when omitted), best first. */
  query(collection: string, vector: readonly number[], k: number, allowed?: ReadonlySet<string>): Promise<VectorHit[]>;
}
