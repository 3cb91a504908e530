import type Sqlite from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/**
 * The SQLite connection as Kysely sees it, with prepared statements kept by their SQL text
 * (least recently used go first). Kysely asks for a new statement for every query, and on
 * the task path SQLite compiling the same few statements again was 7 % of the daemon's CPU.
 * A statement is reused only once its previous run returned: Kysely runs `all`/`run`
 * synchronously; a streamed query (`iterate`) gets a statement of its own.
 */
export function withStatementCache(raw: Sqlite.Database, max = 256): SqliteDatabase {
  const cache = new Map<string, Sqlite.Statement>();
  return {
    close: () => void raw.close(),
    prepare: (sql) => {
      const hit = cache.get(sql);
      if (hit && !hit.busy) {
        cache.delete(sql);
        cache.set(sql, hit);
        return hit;
      }
      const stmt = raw.prepare(sql);
      if (!hit) {
        cache.set(sql, stmt);
        if (cache.size > max) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
  };
}
