import type { ContextPack } from '@aiflock/protocol';
import { packWithinBudget } from './pack.js';
import type { RankedHit } from './ranking.js';

/** A job's query: its input as text (strings as they are, objects as their string values). */
export function queryOf(input: unknown): string {
  if (typeof input === 'string') return input;
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(input);
  return out.join(' ');
}

/** The ranked hits that fit `budget` tokens, deduplicated, each with its provenance. */
export function packHits(jobId: string, query: string, budget: number, hits: readonly RankedHit[]): ContextPack {
  const packed = packWithinBudget(
    hits.map((h) => ({ id: `${h.collection}/${h.id}`, text: h.text, score: h.score, hit: h })),
    budget,
  );
  return {
    jobId,
    query,
    budget,
    used: packed.used,
    items: packed.items.map((i) => ({
      id: i.id,
      text: i.text,
      tokens: i.tokens,
      score: i.score,
      provenance: { collection: i.hit.collection, documentId: i.hit.documentId, source: i.hit.source, title: i.hit.title, heading: i.hit.heading },
    })),
    skipped: packed.skipped,
  };
}
