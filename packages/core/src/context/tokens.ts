/**
 * Lower-case word tokens (letters and digits, Unicode aware). Code identifiers are split on
 * camelCase and snake_case as well, so `parseManifest` matches a query for "manifest".
 */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}_]+/gu)) {
    const word = m[0];
    const parts = word
      .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
      .split(/[_\s]+/)
      .filter(Boolean);
    for (const p of parts) out.push(p.toLowerCase());
    if (parts.length > 1) out.push(word.toLowerCase());
  }
  return out;
}

/**
 * Token count estimate for budgets: about four characters per token for English text and
 * code with common BPE tokenizers, never less than the word count. Deliberately an
 * over-estimate rather than an under-estimate, since budgets are hard limits.
 */
export function estimateTokens(text: string): number {
  const words = text.match(/\S+/g)?.length ?? 0;
  return Math.max(words, Math.ceil(text.length / 4));
}
