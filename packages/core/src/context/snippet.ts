import { tokenize } from './tokens.js';

/**
 * The window of about `width` characters of `text` that holds the most distinct query terms,
 * cut at word boundaries, with an ellipsis where text was left out.
 */
export function snippet(text: string, query: string, width = 240): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= width) return flat;
  const terms = new Set(tokenize(query));
  let best = 0;
  let bestHits = -1;
  for (let start = 0; start < flat.length; start += Math.max(20, Math.floor(width / 6))) {
    const hits = new Set(tokenize(flat.slice(start, start + width)).filter((t) => terms.has(t))).size;
    if (hits > bestHits) {
      best = start;
      bestHits = hits;
    }
  }
  let s = best;
  if (s > 0) s = flat.indexOf(' ', s) + 1 || s;
  let e = Math.min(flat.length, s + width);
  if (e < flat.length) e = flat.lastIndexOf(' ', e) > s ? flat.lastIndexOf(' ', e) : e;
  return `${s > 0 ? '…' : ''}${flat.slice(s, e)}${e < flat.length ? '…' : ''}`;
}
