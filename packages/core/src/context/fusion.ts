/**
 * Reciprocal rank fusion (Cormack et al., 2009): score(d) = Σ 1 / (k + rank_i(d)) over the
 * ranked lists that contain d, with ranks from 1 and k = 60. Rank-based, so BM25 scores and
 * cosine similarities need no common scale.
 */
export function reciprocalRankFusion(lists: readonly (readonly { id: string }[])[], k = 60): { id: string; score: number; ranks: (number | null)[] }[] {
  const fused = new Map<string, { score: number; ranks: (number | null)[] }>();
  lists.forEach((list, li) => {
    list.forEach((item, i) => {
      let e = fused.get(item.id);
      if (!e) fused.set(item.id, (e = { score: 0, ranks: lists.map(() => null) }));
      if (e.ranks[li] !== null) return; // first occurrence counts
      e.ranks[li] = i + 1;
      e.score += 1 / (k + i + 1);
    });
  });
  return [...fused.entries()]
    .map(([id, e]) => ({ id, ...e }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}
