/** RRF's k (Cormack et al., 2009): damps the difference between neighbouring ranks. */
export const RRF_K = 60;

/**
 * Weighted reciprocal rank fusion: score(d) = Σ w_i / (k + rank_i(d)) over the ranked lists
 * that contain d, with ranks from 1 (Cormack et al., 2009, with a weight per list as
 * Elasticsearch and Vespa offer). Rank-based, so BM25 scores and cosine similarities need no
 * common scale. Without weights every list counts alike.
 */
export function reciprocalRankFusion(lists: readonly (readonly { id: string }[])[], opts: { k?: number; weights?: readonly number[] } = {}): { id: string; score: number; ranks: (number | null)[] }[] {
  const k = opts.k ?? RRF_K;
  const fused = new Map<string, { score: number; ranks: (number | null)[] }>();
  lists.forEach((list, li) => {
    const weight = opts.weights?.[li] ?? 1;
    list.forEach((item, i) => {
      let e = fused.get(item.id);
      if (!e) fused.set(item.id, (e = { score: 0, ranks: lists.map(() => null) }));
      if (e.ranks[li] !== null) return; // first occurrence counts
      e.ranks[li] = i + 1;
      e.score += weight / (k + i + 1);
    });
  });
  return [...fused.entries()]
    .map(([id, e]) => ({ id, ...e }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

/**
 * The vector list's weight in hybrid search when the embedder is semantic and none is
 * configured. Plain RRF lets a document that only shares the query's words (first by
 * keywords, second by meaning: 1/(k+1) + w/(k+2)) beat the document the model ranks first by
 * meaning but that shares no word (w/(k+1)); the paraphrase loses whenever w ≤ k + 2. Above
 * that, the model's first place holds against words alone, while keyword rank still reorders
 * the vector list further down and brings in documents the model ranks beyond its depth. A
 * lexical embedder (feature hashing) gets weight 1: its vectors are another keyword signal.
 */
export const SEMANTIC_VECTOR_WEIGHT = RRF_K + 4;

/** `auto` → SEMANTIC_VECTOR_WEIGHT for a retrieval model (MiniLM), else 1; a number is taken as given. */
export function vectorWeight(configured: number | 'auto' | undefined, semantic: boolean): number {
  if (typeof configured === 'number') return configured;
  return semantic ? SEMANTIC_VECTOR_WEIGHT : 1;
}
