import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { SqlBackend } from './dialect.js';
import { sqliteVisibilitySeq } from './visibility-seq.js';
import { withStatementCache } from './statement-cache.js';
import type { Database } from './tables.js';
import { BACKSTOP_AUTOCHECKPOINT_PAGES, startWalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.js';

/** SQLite's own default for `wal_autocheckpoint`, restored should the checkpointer die. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1_000;

export interface SqliteOptions {
  /**
   * Checkpoint the WAL on a worker thread instead of inside the daemon's commits
   * (wal-checkpointer.ts). For the daemon's long-lived store; a short-lived one (a test, a
   * restore) needs no thread of its own.
   */
  checkpointer?: Omit<WalCheckpointerOptions, 'onGone'>;
}

/** The embedded default store: one SQLite file under the data dir, WAL mode. */
export function sqliteBackend(file: string, opts: SqliteOptions = {}): SqlBackend {
  const raw = new Sqlite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  const checkpointer =
    opts.checkpointer && file !== ':memory:'
      ? startWalCheckpointer(file, { ...opts.checkpointer, onGone: () => raw.open && raw.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`) })
      : null;
  if (checkpointer) raw.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
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
    close: async () => {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}
