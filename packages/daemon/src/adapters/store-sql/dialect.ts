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
  /**
   * Copy the live database to `file` (online, consistent) when the backend can do it itself;
   * null when backups are taken with the database's own tools (pg_dump).
   */
  readonly backupTo: ((file: string) => Promise<void>) | null;
  /** Where the data lives, for messages; never contains a password. */
  readonly describe: string;
  close(): Promise<void>;
}
