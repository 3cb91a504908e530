import type { Embedder } from '../ports/embedder.js';
import { tokenize } from './tokens.js';
import { l2normalise } from './vectors.js';

/** FNV-1a, 32 bit: fast, stable across processes and platforms. */
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A lexical fallback embedder by feature hashing (the "hashing trick"): every word token and
 * every character 3-gram of each word is hashed into one of `dimension` buckets with a
 * hashed sign, weighted (words count double, n-grams once, both damped by log(1 + tf)), then
 * L2-normalised. It runs with no model and no service, and catches shared words and
 * spelling variants (plurals, inflections, identifiers). It is NOT a semantic model:
 * synonyms that share no characters are not close. The gateway's `embed` model replaces it
 * by configuration.
 */
export class HashingEmbedder implements Embedder {
  readonly model: string;

  constructor(readonly dimension = 256) {
    if (!Number.isInteger(dimension) || dimension < 8 || dimension > 4096) throw new Error(`hashing embedder dimension must be an integer in 8..4096, got ${dimension}`);
    this.model = `hashing-v1-${dimension}`;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): number[] {
    const counts = new Map<string, number>();
    const add = (f: string, w: number) => counts.set(f, (counts.get(f) ?? 0) + w);
    for (const tok of tokenize(text)) {
      add(`w:${tok}`, 2);
      const padded = `<${tok}>`;
      for (let i = 0; i + 3 <= padded.length; i++) add(`g:${padded.slice(i, i + 3)}`, 1);
    }
    const v = new Array<number>(this.dimension).fill(0);
    for (const [feature, tf] of counts) {
      const h = fnv1a(feature);
      const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
      v[h % this.dimension]! += sign * Math.log1p(tf);
    }
    return l2normalise(v);
  }
}
