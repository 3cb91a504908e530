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
  close(): Promise<void>;
}
