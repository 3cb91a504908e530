import { estimateTokens } from './tokens.js';

export interface PackCandidate {
  id: string;
  text: string;
  score: number;
}

/** Normalised text, for spotting the same passage ingested twice (copies, re-uploads). */
const fingerprint = (t: string) => t.toLowerCase().replace(/\s+/g, ' ').trim();

/**
 * Greedy packing by rank: take candidates best first, skip exact duplicates (by id or by
 * normalised text) and anything that no longer fits, so the total of `estimateTokens` over
 * the chosen items never exceeds `budget`. Items that do not fit are reported, not cut:
 * half a code block misleads more than it helps.
 */
export function packWithinBudget<T extends PackCandidate>(candidates: readonly T[], budget: number): { items: (T & { tokens: number })[]; used: number; skipped: { id: string; reason: 'duplicate' | 'over_budget' }[] } {
  const items: (T & { tokens: number })[] = [];
  const skipped: { id: string; reason: 'duplicate' | 'over_budget' }[] = [];
  const seenIds = new Set<string>();
  const seenText = new Set<string>();
  let used = 0;
  for (const c of [...candidates].sort((a, b) => b.score - a.score)) {
    const fp = fingerprint(c.text);
    if (seenIds.has(c.id) || seenText.has(fp)) {
      skipped.push({ id: c.id, reason: 'duplicate' });
      continue;
    }
    const tokens = estimateTokens(c.text);
    if (used + tokens > budget) {
      skipped.push({ id: c.id, reason: 'over_budget' });
      continue;
    }
    seenIds.add(c.id);
    seenText.add(fp);
    used += tokens;
    items.push({ ...c, tokens });
  }
  return { items, used, skipped };
}
