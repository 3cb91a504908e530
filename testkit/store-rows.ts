import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

/** Read a flock's store itself after a run: the same statement on either backend (`?` placeholders). */
export type Rows = (text: string, ...params: unknown[]) => Promise<Record<string, unknown>[]>;

/** On PostgreSQL when `databaseUrl` is given, else on the flock's SQLite file under `home`. */
export function storeRows(home: string, databaseUrl?: string): Rows {
  if (databaseUrl) {
    return async (text, ...params) => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      try {
        let n = 0;
        return (await c.query(text.replace(/\?/g, () => `$${++n}`), params)).rows as Record<string, unknown>[];
      } finally {
        await c.end();
      }
    };
  }
  return async (text, ...params) => {
    const db = new Database(join(home, 'flock.db'), { readonly: true });
    try {
      return db.prepare(text).all(...params) as Record<string, unknown>[];
    } finally {
      db.close();
    }
  };
}
