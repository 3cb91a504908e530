import { tokenize } from './tokens.js';

/**
 * Okapi BM25 (k1 = 1.2, b = 0.75) over a candidate set, with the Lucene form of idf (never
 * negative). Scoring the candidates in process keeps keyword search identical on every
 * store; the candidates are already narrowed by collection, tag and source filters.
 */
export function bm25Rank(query: string, docs: readonly { id: string; text: string }[], limit: number, k1 = 1.2, b = 0.75): { id: string; score: number }[] {
  const terms = [...new Set(tokenize(query))];
  if (terms.length === 0 || docs.length === 0) return [];
  const tfs = docs.map((d) => {
    const tf = new Map<string, number>();
    const toks = tokenize(d.text);
    for (const t of toks) tf.set(t, (tf.get(t) ?? 0) + 1);
    return { id: d.id, tf, len: toks.length };
  });
  const avg = tfs.reduce((s, d) => s + d.len, 0) / tfs.length || 1;
  const idf = new Map<string, number>();
  for (const t of terms) {
    const n = tfs.reduce((s, d) => s + (d.tf.has(t) ? 1 : 0), 0);
    idf.set(t, Math.log(1 + (tfs.length - n + 0.5) / (n + 0.5)));
  }
  const scored: { id: string; score: number }[] = [];
  for (const d of tfs) {
    let score = 0;
    for (const t of terms) {
      const f = d.tf.get(t);
      if (!f) continue;
      score += idf.get(t)! * ((f * (k1 + 1)) / (f + k1 * (1 - b + (b * d.len) / avg)));
    }
    if (score > 0) scored.push({ id: d.id, score });
  }
  scored.sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1));
  return scored.slice(0, limit);
}
