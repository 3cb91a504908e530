import { constants } from 'node:fs';
import { chmod, chown, lstat, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FlockError, SECRET_NAME } from '@aiflock/core';
import { INSTANCE_ID_PATTERN } from '@aiflock/protocol';
import { SANDBOX_OWNER, type StorageOwner } from './shared-storage.js';

export const SANDBOX_SECRETS_DIR = '/run/secrets';

/**
 * Secret files of one instance on a host tmpfs (never on disk), bind-mounted read-only at
 * /run/secrets. The root is 0700 root (0711 for the process runtime); each instance's directory is 0500 and its files 0400,
 * owned by the sandbox user (for operator sandboxes: the host uid their root maps to), so only
 * that sandbox (and host root) can read them.
 */
export async function writeSecretFiles(root: string, instanceId: string, files: Record<string, string>, rootMode = 0o700, owner: StorageOwner = SANDBOX_OWNER): Promise<string> {
  if (!INSTANCE_ID_PATTERN.test(instanceId)) throw new FlockError('validation_failed', `instance id "${instanceId}" is not valid`);
  await mkdir(root, { recursive: true, mode: rootMode });
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory() || rootStat.uid !== process.getuid?.()) {
    throw new FlockError('internal', `${root} must be a directory owned by the daemon's user`);
  }
  // 0711 for the process runtime: its launcher runs as the sandbox user and must traverse it.
  await chmod(root, rootMode);
  const dir = join(root, instanceId);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o700 });
  for (const [name, value] of Object.entries(files)) {
    if (!SECRET_NAME.test(name) || name === '.' || name === '..') throw new FlockError('validation_failed', `secret name "${name}" is not valid`);
    const fh = await open(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o400);
    try {
      await fh.writeFile(value);
      await fh.chown(owner.uid, owner.gid);
    } finally {
      await fh.close();
    }
  }
  await chown(dir, owner.uid, owner.gid);
  await chmod(dir, 0o500);
  return dir;
}

export async function removeSecretFiles(root: string, instanceId: string): Promise<void> {
  if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
  await rm(join(root, instanceId), { recursive: true, force: true });
}
