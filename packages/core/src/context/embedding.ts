import { FlockError } from '../errors.js';
import type { CollectionRecord } from '../ports/context-store.js';
import type { Embedder } from '../ports/embedder.js';

const EMBED_BATCH = 64;

/** Title and heading are part of what a chunk is about, so both signals see them. */
export function embedText(title: string | null, heading: string | null, text: string): string {
  return [title, heading, text].filter(Boolean).join('\n');
}

/** Embeds in batches, refusing vectors whose dimension is not the one the embedder declares. */
export async function embedAll(embedder: Embedder, texts: string[]): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += EMBED_BATCH) {
    const vs = await embedder.embed(texts.slice(i, i + EMBED_BATCH));
    for (const v of vs) {
      if (v.length !== embedder.dimension) {
        throw new FlockError('embedding_mismatch', `the embedder ${embedder.model} returned a vector of dimension ${v.length}, not the ${embedder.dimension} it declares`, {
          model: embedder.model,
          expected: embedder.dimension,
          got: v.length,
        });
      }
      out.push(v);
    }
  }
  return out;
}

/** The collection's vectors must come from the configured embedder, or they cannot be compared. */
export function assertSameModel(c: CollectionRecord, e: Embedder): void {
  if (c.model !== e.model || c.dimension !== e.dimension) {
    throw new FlockError(
      'embedding_mismatch',
      `collection "${c.name}" holds vectors from model ${c.model} (dimension ${c.dimension}) but the configured embedder is ${e.model} (dimension ${e.dimension}); re-index it (aiflock context reindex ${c.name}) or configure the same model`,
      { collection: c.name, collectionModel: c.model, collectionDimension: c.dimension, embedderModel: e.model, embedderDimension: e.dimension },
    );
  }
}
