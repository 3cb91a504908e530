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

/**
 * An inverted index for BM25 over one collection's chunks, built once and reused until the
 * collection changes: a query then touches only the postings of its own terms instead of
 * re-tokenizing every chunk.
 */
export class KeywordIndex {
  private constructor(
    private readonly ids: string[],
    private readonly lens: Float64Array,
    private readonly avg: number,
    private readonly postings: Map<string, { doc: number; tf: number }[]>,
  ) {}

  static build(docs: readonly { id: string; text: string }[]): KeywordIndex {
    const postings = new Map<string, { doc: number; tf: number }[]>();
    const lens = new Float64Array(docs.length);
    docs.forEach((d, i) => {
      const toks = tokenize(d.text);
      lens[i] = toks.length;
      const tf = new Map<string, number>();
      for (const t of toks) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const [t, n] of tf) {
        let list = postings.get(t);
        if (!list) postings.set(t, (list = []));
        list.push({ doc: i, tf: n });
      }
    });
    const avg = docs.length ? lens.reduce((s, l) => s + l, 0) / docs.length || 1 : 1;
    return new KeywordIndex(docs.map((d) => d.id), lens, avg, postings);
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * The same scores as `bm25Rank` over the allowed documents (document frequencies count
   * only allowed ones, so a filtered search ranks as if the rest did not exist).
   */
  search(query: string, limit: number, allowed?: ReadonlySet<string>, k1 = 1.2, b = 0.75): { id: string; score: number }[] {
    const terms = [...new Set(tokenize(query))];
    const ok = (i: number) => !allowed || allowed.has(this.ids[i]!);
    let n = this.ids.length;
    let avg = this.avg;
    if (allowed) {
      let sum = 0;
      n = 0;
      for (let i = 0; i < this.ids.length; i++) {
        if (!ok(i)) continue;
        n++;
        sum += this.lens[i]!;
      }
      avg = n ? sum / n || 1 : 1;
    }
    const scores = new Map<number, number>();
    for (const t of terms) {
      const list = (this.postings.get(t) ?? []).filter((p) => ok(p.doc));
      if (list.length === 0) continue;
      const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
      for (const p of list) {
        const s = idf * ((p.tf * (k1 + 1)) / (p.tf + k1 * (1 - b + (b * this.lens[p.doc]!) / avg)));
        scores.set(p.doc, (scores.get(p.doc) ?? 0) + s);
      }
    }
    return [...scores.entries()]
      .map(([i, score]) => ({ id: this.ids[i]!, score }))
      .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1))
      .slice(0, limit);
  }
}
