import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bm25Rank, chunkDocument, KeywordIndex, dot, estimateTokens, HashingEmbedder, packWithinBudget, reciprocalRankFusion, SEMANTIC_VECTOR_WEIGHT, snippet, tokenize, vectorWeight } from '../src/index.js';

describe('chunking follows structure', () => {
  it('splits markdown by heading sections with the heading trail, and never cuts a fenced block', () => {
    const fence = ['```ts', ...Array.from({ length: 12 }, (_, i) => `const v${i} = ${i};`), '```'].join('\n');
    const md = `# Guide\n\nIntro text.\n\n## Install\n\nRun the script.\n\n${fence}\n\nAfter the block.\n\n### Debian\n\nUse apt.\n\n# Other\n\nMore.`;
    const chunks = chunkDocument(md, 'document', 400);
    expect(chunks.map((c) => c.heading)).toEqual(['Guide', 'Guide > Install', 'Guide > Install > Debian', 'Other']);
    expect(chunks[1]!.text).toContain(fence);
    expect(chunks[1]!.text.startsWith('## Install')).toBe(true);
    // With a small limit the section splits, but the fenced block stays whole in one chunk.
    const small = chunkDocument(md, 'document', 60);
    expect(small.filter((c) => c.text.includes('```ts')).every((c) => c.text.includes(fence))).toBe(true);
    expect(small.every((c) => c.tokens <= 60)).toBe(true);
  });

  it('does not take a comment inside a fenced block for a heading', () => {
    const md = '# Script\n\n```sh\n# not a heading\necho hi\n```\n';
    const chunks = chunkDocument(md, 'document');
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.heading).toBe('Script');
    expect(chunks[0]!.text).toContain('# not a heading');
  });

  it('splits code by top-level blocks, keeping a leading comment with its declaration', () => {
    const src = `import x from 'y';\n\n/** Adds. */\nexport function add(a, b) {\n  return a + b;\n}\n\nclass Box {\n  open() {\n    return 1;\n  }\n}\n`;
    const chunks = chunkDocument(src, 'code', 16);
    expect(chunks.map((c) => c.heading)).toEqual(["import x from 'y';", 'export function add(a, b) {', 'class Box {']);
    expect(chunks[1]!.text.startsWith('/** Adds. */')).toBe(true);
    // Small blocks merge up to the limit.
    expect(chunkDocument(src, 'code', 400)).toHaveLength(1);
  });

  it('cuts an oversized block at line boundaries and a giant line by characters', () => {
    const long = Array.from({ length: 200 }, (_, i) => `line ${i} with some words`).join('\n');
    const chunks = chunkDocument(long, 'note', 50);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.every((c) => c.tokens <= 50)).toBe(true);
    expect(chunks.map((c) => c.text).join('\n')).toBe(long);
    const giant = chunkDocument('x'.repeat(5000), 'code', 100);
    expect(giant.every((c) => c.tokens <= 100)).toBe(true);
    expect(giant.map((c) => c.text).join('')).toBe('x'.repeat(5000));
  });
});

describe('hashing embedder', () => {
  const e = new HashingEmbedder(128);
  it('is deterministic, unit length, and closer for shared words and inflections', async () => {
    const [a, b, c, d] = await e.embed(['restart the daemon', 'restarting daemons', 'tile map village', 'restart the daemon']);
    expect(a).toEqual(d);
    expect(a).toHaveLength(128);
    expect(dot(a!, a!)).toBeCloseTo(1, 5);
    expect(dot(a!, b!)).toBeGreaterThan(dot(a!, c!) + 0.2);
    expect(e.model).toBe('hashing-v1-128');
  });
  it('refuses a silly dimension', () => {
    expect(() => new HashingEmbedder(3)).toThrow('dimension must be an integer in 8..4096, got 3');
  });
});

describe('ranking', () => {
  it('BM25 ranks documents with more query terms first and penalises length', () => {
    const docs = [
      { id: 'a', text: 'apple banana' },
      { id: 'b', text: 'apple cherry' },
      { id: 'c', text: 'apple date' },
      { id: 'long', text: `cherry ${'filler '.repeat(50)}` },
    ];
    expect(bm25Rank('apple cherry', docs, 10).map((h) => h.id)).toEqual(['b', 'a', 'c', 'long']);
    expect(bm25Rank('cherry', docs, 1).map((h) => h.id)).toEqual(['b']);
    expect(bm25Rank('nothing matches', docs, 10)).toEqual([]);
  });
  it('the inverted keyword index scores exactly like BM25 over the allowed documents (property)', () => {
    const word = fc.constantFrom('ledger', 'agent', 'bus', 'tile', 'map', 'key', 'the', 'a');
    const docs = fc.uniqueArray(fc.record({ id: fc.string({ minLength: 1, maxLength: 4 }), text: fc.array(word, { maxLength: 30 }).map((w) => w.join(' ')) }), { selector: (d) => d.id, maxLength: 25 });
    fc.assert(
      fc.property(docs, fc.array(word, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 2 ** 25 }), (ds, q, mask) => {
        const allowed = new Set(ds.filter((_, i) => (mask >> i) & 1).map((d) => d.id));
        const query = q.join(' ');
        const round = (hs: { id: string; score: number }[]) => hs.map((h) => ({ id: h.id, score: Number(h.score.toFixed(9)) }));
        expect(round(KeywordIndex.build(ds).search(query, 10, allowed))).toEqual(round(bm25Rank(query, ds.filter((d) => allowed.has(d.id)), 10)));
        expect(round(KeywordIndex.build(ds).search(query, 10))).toEqual(round(bm25Rank(query, ds, 10)));
      }),
      { numRuns: 300 },
    );
  });

  it('tokenizes identifiers into their words too', () => {
    expect(tokenize('parseManifest snake_case')).toEqual(['parse', 'manifest', 'parsemanifest', 'snake', 'case', 'snake_case']);
  });
  it('RRF rewards agreement between lists', () => {
    const fused = reciprocalRankFusion([[{ id: 'a' }, { id: 'b' }, { id: 'c' }], [{ id: 'b' }, { id: 'c' }, { id: 'd' }]]);
    expect(fused.map((f) => f.id)).toEqual(['b', 'c', 'a', 'd']);
    expect(fused[0]!.ranks).toEqual([2, 1]);
    expect(fused[0]!.score).toBeCloseTo(1 / 62 + 1 / 61, 10);
    expect(fused[3]!.ranks).toEqual([null, 3]);
  });
  it('weighted RRF: a semantic first place holds against a word-sharing distractor second by meaning', () => {
    // keyword list: the distractor only; vector list: the paraphrase, then the distractor.
    const lists = [[{ id: 'distractor' }], [{ id: 'paraphrase' }, { id: 'distractor' }]];
    expect(reciprocalRankFusion(lists).map((f) => f.id)).toEqual(['distractor', 'paraphrase']);
    expect(reciprocalRankFusion(lists, { weights: [1, 62] })[0]!.id).toBe('distractor');
    const fused = reciprocalRankFusion(lists, { weights: [1, SEMANTIC_VECTOR_WEIGHT] });
    expect(fused.map((f) => f.id)).toEqual(['paraphrase', 'distractor']);
    expect(fused[0]!.score).toBeCloseTo(SEMANTIC_VECTOR_WEIGHT / 61, 10);
    expect([vectorWeight('auto', false), vectorWeight('auto', true), vectorWeight(3, false), vectorWeight(undefined, true)]).toEqual([1, SEMANTIC_VECTOR_WEIGHT, 3, SEMANTIC_VECTOR_WEIGHT]);
  });
  it('snippets centre on the query terms', () => {
    const text = `${'intro '.repeat(100)}the ledger balance is derived ${'outro '.repeat(100)}`;
    const s = snippet(text, 'ledger balance', 80);
    expect(s).toContain('ledger balance');
    expect(s.startsWith('…')).toBe(true);
    expect(s.length).toBeLessThanOrEqual(82);
  });
});

describe('packing within a token budget', () => {
  it('never exceeds the budget, never packs a duplicate, and keeps the best first (property)', () => {
    const candidate = fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), text: fc.oneof(fc.string({ maxLength: 400 }), fc.constantFrom('same text', 'Same  TEXT')), score: fc.double({ min: 0, max: 1, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(candidate, { maxLength: 40 }), fc.integer({ min: 0, max: 500 }), (cands, budget) => {
        const { items, used, skipped } = packWithinBudget(cands, budget);
        expect(used).toBeLessThanOrEqual(budget);
        expect(items.reduce((s, i) => s + estimateTokens(i.text), 0)).toBe(used);
        expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
        expect(new Set(items.map((i) => i.text.toLowerCase().replace(/\s+/g, ' ').trim())).size).toBe(items.length);
        expect(items.length + skipped.length).toBe(cands.length);
        for (let i = 1; i < items.length; i++) expect(items[i - 1]!.score).toBeGreaterThanOrEqual(items[i]!.score);
      }),
      { numRuns: 500 },
    );
  });
});
