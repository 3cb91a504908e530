import { constants } from 'node:fs';
import { chmod, chown, lstat, mkdir, open, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FlockError } from '@aiflock/core';
import { mountLogVolume, mountPointsUnder, mountWorkspaceVolume, retireLogVolume, unmountWorkspaceVolume } from './volumes.js';

/** The sandbox user. The image, the container spec and file ownership must agree on it. */
export const SANDBOX_UID = 1001;
export const SANDBOX_GID = 1001;
export const SANDBOX_SHARED_DIR = '/shared';
/** Where an instance finds its own bus credentials (read-only, readable by it alone). */
export const SANDBOX_CREDENTIALS_DIR = '/run/aiflock';

/** Host uid/gid that owns an instance's workspace, log file and secret files. */
export interface StorageOwner {
  uid: number;
  gid: number;
}

/** A workspace's size when neither the manifest (`resources.workspace`) nor the config says. */
export const DEFAULT_WORKSPACE_BYTES = 1024 ** 3;

/** The restricted profile's sandbox user, unmapped: host uid 1001 is uid 1001 inside. */
export const SANDBOX_OWNER: StorageOwner = { uid: SANDBOX_UID, gid: SANDBOX_GID };

export interface InstanceStoragePaths {
  hostWorkspace: string;
  hostCommon: string;
  /** The instance's log directory (a volume of its own) and the file the agent writes in it. */
  hostLogDir: string;
  hostLogFile: string;
  workspace: string;
  common: string;
  logDir: string;
  logFile: string;
}

/** What the runtime is configured with (runtime.workspaceSize, logFileMaxBytes, logFileKeep). */
export interface StorageLimits {
  workspaceBytes?: number;
  logFileMaxBytes?: number;
  logFileKeep?: number;
}

/** The sizes one instance gets: the manifest's workspace size, else the configured ones. */
export interface InstanceSizes {
  workspaceBytes: number;
  logFileMaxBytes: number;
  logFileKeep: number;
}

export const DEFAULT_LOG_FILE_MAX_BYTES = 10 * 1024 ** 2;
export const DEFAULT_LOG_FILE_KEEP = 3;

export function instanceSizes(spec: { resources: { workspaceBytes?: number } }, configured: StorageLimits | undefined): InstanceSizes {
  return {
    workspaceBytes: spec.resources.workspaceBytes ?? configured?.workspaceBytes ?? DEFAULT_WORKSPACE_BYTES,
    logFileMaxBytes: configured?.logFileMaxBytes ?? DEFAULT_LOG_FILE_MAX_BYTES,
    logFileKeep: configured?.logFileKeep ?? DEFAULT_LOG_FILE_KEEP,
  };
}

/** How the agent learns to rotate its log file (RuntimeEnv). */
export function logFileEnv(sizes: InstanceSizes): Record<string, string> {
  return { AIFLOCK_LOG_FILE_MAX_BYTES: String(sizes.logFileMaxBytes), AIFLOCK_LOG_FILE_KEEP: String(sizes.logFileKeep) };
}

/** Host and in-sandbox paths of one instance. Pure, so the container spec can use it. */
export function storagePaths(sharedDir: string, agent: string, instanceId: string): InstanceStoragePaths {
  return {
    hostWorkspace: join(sharedDir, 'agents', agent),
    hostCommon: join(sharedDir, 'common'),
    hostLogDir: join(sharedDir, 'logs', instanceId),
    hostLogFile: join(sharedDir, 'logs', instanceId, 'agent.log'),
    workspace: `${SANDBOX_SHARED_DIR}/agents/${agent}`,
    common: `${SANDBOX_SHARED_DIR}/common`,
    logDir: `${SANDBOX_SHARED_DIR}/logs/${instanceId}`,
    logFile: `${SANDBOX_SHARED_DIR}/logs/${instanceId}/agent.log`,
  };
}

/** Root-owned skeleton: sandboxes only ever see the pieces bind-mounted into them. */
export async function prepareSharedRoot(sharedDir: string): Promise<void> {
  for (const dir of [sharedDir, join(sharedDir, 'agents'), join(sharedDir, 'common'), join(sharedDir, 'logs')]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await assertRealDirectory(dir);
    await chmod(dir, 0o755);
  }
}

/**
 * Workspace (shared by an agent's replicas, a size-limited volume of its own: volumes.ts) and
 * per-instance log directory (a volume of its own too). Ownership is fixed on every start so
 * that a tampered or stale tree cannot hand one agent's files to the sandbox user of another
 * run with different ownership.
 */
export async function prepareInstanceStorage(sharedDir: string, agent: string, instanceId: string, sizes: InstanceSizes, owner: StorageOwner = SANDBOX_OWNER): Promise<InstanceStoragePaths> {
  const paths = storagePaths(sharedDir, agent, instanceId);
  await prepareWorkspace(sharedDir, agent, sizes, owner);
  await mkdirOnce(paths.hostLogDir);
  await assertRealDirectory(paths.hostLogDir);
  await mountLogVolume(sharedDir, instanceId, paths.hostLogDir, sizes.logFileMaxBytes, sizes.logFileKeep);
  await prepareLogDir(paths.hostLogDir, owner);
  return paths;
}

/** The agent's workspace volume, mounted (or found mounted) on the host and given to the sandbox user. */
export async function prepareWorkspace(sharedDir: string, agent: string, sizes: InstanceSizes, owner: StorageOwner = SANDBOX_OWNER): Promise<void> {
  const hostWorkspace = join(sharedDir, 'agents', agent);
  await prepareSharedRoot(sharedDir);
  await mkdirOnce(hostWorkspace);
  await assertRealDirectory(hostWorkspace);
  await mountWorkspaceVolume(sharedDir, agent, hostWorkspace, sizes.workspaceBytes);
  await chownOrExplain(hostWorkspace, owner);
  await chmod(hostWorkspace, 0o700);
}

/**
 * An instance's log directory, already on its volume (mounted there by prepareInstanceStorage,
 * or made inside a warm sandbox's own log volume): made if missing, given to the sandbox user,
 * with its log file.
 */
export async function prepareLogDir(dir: string, owner: StorageOwner = SANDBOX_OWNER): Promise<void> {
  await mkdirOnce(dir);
  await assertRealDirectory(dir);
  await chownOrExplain(dir, owner);
  await chmod(dir, 0o750);
  const file = join(dir, 'agent.log');
  // O_NOFOLLOW: a symlink planted at the log path must not redirect a chown to another file.
  const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o640);
  try {
    if (!(await fh.stat()).isFile()) throw new FlockError('internal', `${file} is not a regular file`);
    await fh.chown(owner.uid, owner.gid).catch((err) => explainChown(err, file, owner));
    await fh.chmod(0o640);
  } finally {
    await fh.close();
  }
}

async function mkdirOnce(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * After an instance is removed: its log files leave their volume (kept as plain files), and
 * the agent's workspace is unmounted once no instance of it is left on this runtime
 * (`othersLeft` says whether any is); its files stay in the volume for the next start.
 */
export async function releaseInstanceStorage(sharedDir: string, agent: string, instanceId: string, othersLeft: boolean): Promise<void> {
  const paths = storagePaths(sharedDir, agent, instanceId);
  await retireLogVolume(sharedDir, instanceId, paths.hostLogDir);
  if (!othersLeft) await unmountWorkspaceVolume(paths.hostWorkspace);
}

/**
 * When the whole flock stops (`aiflock down`): every volume still mounted under the shared
 * tree is released as its instance's removal would, so that no mount outlives the flock and
 * its data directory can be deleted. Returns what could not be released.
 */
export async function releaseAllStorage(sharedDir: string): Promise<string[]> {
  const failed: string[] = [];
  const logs = await realpath(join(sharedDir, 'logs')).catch(() => join(sharedDir, 'logs'));
  for (const point of await mountPointsUnder(sharedDir)) {
    try {
      if (dirname(point) === logs) await retireLogVolume(sharedDir, basename(point), point);
      // Whatever is left (a workspace, or a mount with no image of ours) is simply unmounted.
      await unmountWorkspaceVolume(point);
    } catch (err) {
      failed.push(`${point}: ${(err as Error).message}`);
    }
  }
  return failed;
}

async function assertRealDirectory(path: string): Promise<void> {
  const st = await lstat(path);
  if (!st.isDirectory() || st.isSymbolicLink()) {
    throw new FlockError('internal', `${path} must be a real directory (found something else); refusing to mount it into a sandbox`);
  }
}

async function chownOrExplain(path: string, owner: StorageOwner): Promise<void> {
  await chown(path, owner.uid, owner.gid).catch((err) => explainChown(err, path, owner));
}

function explainChown(err: unknown, path: string, owner: StorageOwner): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EPERM') {
    throw new FlockError('runtime_unavailable', `cannot give ${path} to the sandbox user ${owner.uid}:${owner.gid}: the daemon must run as root to prepare sandbox storage`);
  }
  throw err;
}
