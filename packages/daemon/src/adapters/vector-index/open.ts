import { InProcessVectorIndex, type VectorIndex } from '@aiflock/core';
import type { SqlStore } from '../store-sql/sql-store.js';
import { PgvectorIndex, type PgvectorOptions } from './pgvector-index.js';

/** The configured vector index, brought in line with the store. */
export async function openVectorIndex(kind: 'store' | 'pgvector', store: SqlStore, log: (msg: string) => void, pgvector?: PgvectorOptions): Promise<VectorIndex> {
  if (kind === 'pgvector' && store.kind !== 'postgres') throw new Error(`context.vectorIndex pgvector needs store.kind postgres (the store is ${store.kind})`);
  const index = kind === 'pgvector' ? new PgvectorIndex(store.db, store.context, log, pgvector) : new InProcessVectorIndex(store.context);
  await index.init();
  return index;
}
