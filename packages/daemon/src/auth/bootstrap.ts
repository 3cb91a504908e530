import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuthService, Store } from '@aiflock/core';
import type { Logger } from '../logger.js';

/** Where the first admin token is left for the local CLI (mode 0600, like an SSH key). */
export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin.token');

/**
 * On the very first start (no token exists yet) create an admin token, print it once and
 * leave it for the local CLI. Later starts never mint another: losing it means creating one
 * with the CLI while this one still works, or starting from a fresh store.
 */
export async function bootstrapAdminToken(auth: AuthService, store: Store, dataDir: string, logger: Logger): Promise<boolean> {
  if ((await store.tokens.count()) > 0) return false;
  const { token, record } = await auth.createToken({ name: 'bootstrap-admin', scopes: ['admin'] });
  const file = adminTokenFile(dataDir);
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  logger.warn({ tokenId: record.id, token, file }, 'first start: created an admin token (shown once; also saved for the local CLI)');
  return true;
}
