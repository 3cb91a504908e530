import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuthService, Store } from '@aiflock/core';
import type { Logger } from '../logger.js';

/** Where the first admin token is left for the local CLI (mode 0600, like an SSH key). */
export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin.token');

/** Shows the new token to the person starting the daemon (a terminal, never the log). */
export type AnnounceToken = (token: string, file: string) => void;

/**
 * On the very first start (no token exists yet) create an admin token and leave it for the
 * local CLI. Later starts never mint another: losing it means creating one with the CLI
 * while this one still works, or starting from a fresh store.
 *
 * The secret never goes into the log: logs are shipped, kept and read by more people than
 * admins. It is shown once by `announce` (the daemon in a terminal) or by `aiflock up`,
 * which reads the file this start created; the log line names only the token id and file.
 */
export async function bootstrapAdminToken(auth: AuthService, store: Store, dataDir: string, logger: Logger, announce?: AnnounceToken): Promise<boolean> {
  if ((await store.tokens.count()) > 0) return false;
  const { token, record } = await auth.createToken({ name: 'bootstrap-admin', scopes: ['admin'] });
  const file = adminTokenFile(dataDir);
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  logger.warn({ tokenId: record.id, file }, `first start: created the admin token ${record.id}, saved in ${file} for the local CLI`);
  announce?.(token, file);
  return true;
}
