import { join } from 'node:path';
import type { Config } from '../../config.js';
import { postgresBackend } from './postgres.js';
import { sqliteBackend } from './sqlite.js';
import { SqlStore } from './sql-store.js';
import type { GroupCommitOptions } from './group-commit.js';

/** The configured store, migrated to the latest schema. */
export async function openStore(config: Config, log: (msg: string) => void, groupCommit: GroupCommitOptions = {}): Promise<SqlStore> {
  if (config.store.kind === 'postgres') {
    // The config schema guarantees the URL for kind postgres.
    const backend = await postgresBackend({ url: config.store.url!, poolSize: config.store.poolSize, connectTimeoutMs: config.store.connectTimeoutMs, log });
    return SqlStore.open(backend, groupCommit);
  }
  const checkpointer = { onError: (message: string) => log(`SQLite WAL checkpoint failed: ${message}`) };
  return SqlStore.open(sqliteBackend(config.store.file ?? join(config.dataDir, 'flock.db'), { checkpointer }), groupCommit);
}
