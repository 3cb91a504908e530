import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { SqlBackend } from './dialect.js';
import { sqliteVisibilitySeq } from './visibility-seq.js';
import { withStatementCache } from './statement-cache.js';
import type { Database } from './tables.js';

/** The embedded default store: one SQLite file under the data dir, WAL mode. */
export function sqliteBackend(file: string): SqlBackend {
  const raw = new Sqlite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  return {
    kind: 'sqlite',
    db,
    identity: { type: 'integer', modify: (c) => c.autoIncrement() },
    // Kysely drives the one better-sqlite3 connection behind a mutex, so a transaction
    // already excludes every other writer of this process; the daemon is the file's only
    // writer (a second process would get SQLITE_BUSY and the primary key refuses a fork).
    exclusive: (_table, fn) => db.transaction().execute(fn),
    lock: async () => undefined,
    writeLanes: 1,
    // SQLite's online backup API: a consistent copy while the daemon keeps writing.
    addVisibilitySeq: sqliteVisibilitySeq,
    // SQLite stores any text in a varchar column whatever its declared length.
    widenVarchar: async () => undefined,
    backupTo: async (dest) => {
      await raw.backup(dest);
    },
    describe: `sqlite:${file}`,
    close: () => db.destroy(),
  };
}
