import type { ColumnDefinitionBuilder, Kysely } from 'kysely';
import type { Database } from './tables.js';

/**
 * What differs between SQL backends, stated as capabilities so the store and migrations
 * never ask "which database is this?".
 */
export interface SqlBackend {
  readonly kind: string;
  readonly db: Kysely<Database>;
  /** Column type and modifier for an auto-incrementing integer primary key. */
  readonly identity: { type: 'integer' | 'serial'; modify: (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder };
  /**
   * Run `fn` in a transaction that holds the only write lock on `table`, so read-then-append
   * sequences (the audit chain) are serialized across connections. Readers are not blocked.
   */
  exclusive<T>(table: keyof Database & string, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Inside transaction `trx`: take the write lock `exclusive` takes on `table`, held until commit. */
  lock(trx: Kysely<Database>, table: keyof Database & string): Promise<void>;
  /** Group-commit transactions the store may run at once (see GroupCommit): 1 for one connection. */
  readonly writeLanes: number;
  /**
   * Migration step: add integer `column` to `table`, number the existing rows by `orderBy`,
   * and have the database number every later insert above every row before it, such that
   * rows become visible to readers in that order. A reader that has seen number N can then
   * ask for "above N" again later and never miss a row that committed late.
   */
  addVisibilitySeq(db: Kysely<unknown>, t: { table: string; column: string; key: string; orderBy: string[] }): Promise<void>;
  /**
   * Migration step: let a varchar column hold longer values. Backends that do not enforce
   * a declared length (SQLite) need nothing done.
   */
  widenVarchar(db: Kysely<unknown>, t: { table: string; column: string; length: number }): Promise<void>;
  /**
   * Copy the live database to `file` (online, consistent) when the backend can do it itself;
   * null when backups are taken with the database's own tools (pg_dump).
   */
  readonly backupTo: ((file: string) => Promise<void>) | null;
  /** Where the data lives, for messages; never contains a password. */
  readonly describe: string;
  close(): Promise<void>;
}
