import { copyFile, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditLog, systemClock, type AuditAnchor, type AuditVerdict } from '@aiflock/core';
import type { Config } from './config.js';
import { HmacFileAnchor } from './adapters/audit-anchor/hmac-file-anchor.js';
import { sqliteBackend } from './adapters/store-sql/sqlite.js';
import { SqlStore } from './adapters/store-sql/sql-store.js';
import { daemonInfoFile } from './daemon-info.js';
import { processAlive } from './process-alive.js';

/** Why a restore was refused; nothing was changed. `code` is what `aiflock restore --json` reports. */
export class RestoreError extends Error {
  constructor(
    readonly code: 'restore_refused' | 'backup_invalid' | 'audit_tampered',
    message: string,
  ) {
    super(message);
    this.name = 'RestoreError';
  }
}

export interface RestoreResult {
  store: string;
  /** Where the store it replaced was kept (null when there was none). */
  previous: string | null;
  /** The restored audit log, verified with its anchor after the restore. */
  audit: AuditVerdict;
}

/** An anchor that holds nothing: the backup's chain is checked on its own, before it is trusted. */
const NO_ANCHOR: AuditAnchor = { read: async () => null, advance: async () => {} };

/**
 * `aiflock restore <backup>`: the inverse of `aiflock backup`, run while the daemon is
 * stopped. The backup is copied next to the store, migrated, and its audit chain verified on
 * its own; only then does it replace the store (which is kept beside it, WAL and all, as
 * `<store>.before-restore-<time>`). Restoring rolls the audit log back to the backup's
 * head, which the audit anchor would rightly call truncation, so the anchor is restarted
 * from the restored head and the restore itself is the first entry after it
 * (`system.restore`, naming the head it replaced); the chain is then verified again.
 */
export async function restoreStore(config: Config, backup: string): Promise<RestoreResult> {
  if (config.store.kind === 'postgres') throw new RestoreError('restore_refused', 'the store is PostgreSQL: restore it with pg_restore (docs/operations.md); aiflock restore restores SQLite backups');
  await refuseWhileRunning(config.dataDir);
  await assertSqliteFile(backup);
  const target = config.store.file ?? join(config.dataDir, 'flock.db');
  const staged = `${target}.restoring`;
  await rm(staged, { force: true });
  await copyFile(backup, staged);
  try {
    const own = await withStore(staged, (s) => new AuditLog({ store: s.audit, anchor: NO_ANCHOR, clock: systemClock }).verify());
    if (!own.ok) throw new RestoreError('audit_tampered', `the backup's audit log does not verify (entry ${own.seq}: ${own.message}); not restored`);
  } catch (err) {
    await removeStore(staged);
    if (err instanceof RestoreError) throw err;
    throw new RestoreError('backup_invalid', `${backup} is not a store this daemon can open: ${(err as Error).message}`);
  }
  const replacedHead = await readFile(join(config.dataDir, 'audit-head.json'), 'utf8').then(
    (t) => JSON.parse(t) as unknown,
    () => null,
  );
  const previous = (await exists(target)) ? `${target}.before-restore-${new Date().toISOString().replace(/[-:.]/g, '')}` : null;
  if (previous) for (const suffix of ['', '-wal', '-shm']) if (await exists(`${target}${suffix}`)) await rename(`${target}${suffix}`, `${previous}${suffix}`);
  for (const suffix of ['-wal', '-shm']) await rename(`${staged}${suffix}`, `${target}${suffix}`).catch(() => undefined);
  await rename(staged, target);
  await rm(join(config.dataDir, 'audit-head.json'), { force: true });
  const audit = await withStore(target, async (s) => {
    const log = new AuditLog({ store: s.audit, anchor: new HmacFileAnchor(config.dataDir), clock: systemClock });
    await log.record({ actor: 'system', action: 'system.restore', resource: 'store', outcome: 'ok', details: { backup, previous, replacedHead } });
    return log.verify();
  });
  return { store: target, previous, audit };
}

async function withStore<T>(file: string, fn: (s: SqlStore) => Promise<T>): Promise<T> {
  const store = await SqlStore.open(sqliteBackend(file));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function refuseWhileRunning(dataDir: string): Promise<void> {
  const info = await readFile(daemonInfoFile(dataDir), 'utf8').then(
    (t) => JSON.parse(t) as { pid?: number },
    () => null,
  );
  if (info?.pid && processAlive(info.pid)) throw new RestoreError('restore_refused', `the daemon (pid ${info.pid}) is running on ${dataDir}; stop it first (aiflock down), or pass --force to aiflock restore`);
}

async function assertSqliteFile(file: string): Promise<void> {
  const head = Buffer.alloc(16);
  try {
    const fd = await open(file, 'r');
    await fd.read(head, 0, 16, 0).finally(() => fd.close());
  } catch (err) {
    throw new RestoreError('backup_invalid', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (head.toString('latin1') !== 'SQLite format 3\0') throw new RestoreError('backup_invalid', `${file} is not a SQLite backup (make one with: aiflock backup <file>)`);
}

async function removeStore(file: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm']) await rm(`${file}${suffix}`, { force: true });
}

const exists = (file: string) => stat(file).then(
  () => true,
  () => false,
);
