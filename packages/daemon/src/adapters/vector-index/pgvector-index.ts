import { sql, type Kysely } from 'kysely';
import type { ContextStore, VectorHit, VectorIndex } from '@aiflock/core';
import type { Database } from '../store-sql/tables.js';

const literal = (v: readonly number[]) => `[${v.join(',')}]`;

/**
 * Vectors in PostgreSQL with the pgvector extension: a `context_vectors` table beside the
 * chunk rows, searched by cosine distance (`<=>`) in the database. The table is an index,
 * not the truth: `init` rebuilds any collection whose vector count differs from its chunk
 * count, which is what makes switching from the in-process index a configuration change.
 * The column has no fixed dimension because collections differ; search is exact, which is
 * what pgvector does without an ANN index.
 */
export class PgvectorIndex implements VectorIndex {
  readonly kind = 'pgvector';

  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: ContextStore,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  private get raw(): Kysely<unknown> {
    return this.db as unknown as Kysely<unknown>;
  }

  async init(): Promise<void> {
    try {
      await sql`create extension if not exists vector`.execute(this.raw);
    } catch (err) {
      throw new Error(
        `context.vectorIndex is pgvector but the database cannot enable the "vector" extension (${String((err as Error).message)}): install pgvector on the PostgreSQL server (Debian/Ubuntu: postgresql-<major>-pgvector) or set context.vectorIndex to store`,
      );
    }
    await sql`create table if not exists context_vectors (collection varchar(63) not null, id varchar(320) not null, embedding vector not null, primary key (collection, id))`.execute(this.raw);
    for (const c of await this.store.collections.list()) {
      const want = await this.store.chunks.count(c.name);
      const have = await sql<{ n: string }>`select count(*) as n from context_vectors where collection = ${c.name}`.execute(this.raw);
      if (Number(have.rows[0]?.n ?? 0) === want) continue;
      this.log(`pgvector: rebuilding the vectors of collection ${c.name} (${want} chunks) from the store`);
      await this.dropCollection(c.name);
      for (let after: string | undefined; ; ) {
        const page = await this.store.chunks.list(c.name, { after, limit: 500 });
        await this.upsert(c.name, page.map((ch) => ({ id: ch.id, vector: ch.embedding })));
        if (page.length < 500) break;
        after = page[page.length - 1]!.id;
      }
    }
  }

  async upsert(collection: string, entries: readonly { id: string; vector: readonly number[] }[]): Promise<void> {
    for (let i = 0; i < entries.length; i += 200) {
      const rows = entries.slice(i, i + 200).map((e) => sql`(${collection}, ${e.id}, ${literal(e.vector)}::vector)`);
      await sql`insert into context_vectors (collection, id, embedding) values ${sql.join(rows)} on conflict (collection, id) do update set embedding = excluded.embedding`.execute(this.raw);
    }
  }

  async remove(collection: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await sql`delete from context_vectors where collection = ${collection} and id = any(${[...ids]}::text[])`.execute(this.raw);
  }

  async dropCollection(collection: string): Promise<void> {
    await sql`delete from context_vectors where collection = ${collection}`.execute(this.raw);
  }

  async query(collection: string, vector: readonly number[], k: number, allowed?: ReadonlySet<string>): Promise<VectorHit[]> {
    const q = literal(vector);
    const filter = allowed ? sql`and id = any(${[...allowed]}::text[])` : sql``;
    const res = await sql<{ id: string; score: number }>`
      select id, 1 - (embedding <=> ${q}::vector) as score from context_vectors
      where collection = ${collection} ${filter}
      order by embedding <=> ${q}::vector, id limit ${k}`.execute(this.raw);
    return res.rows.map((r) => ({ id: r.id, score: Number(r.score) }));
  }
}
