import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmod, chown, mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerCreateOptions } from 'dockerode';
import { FlockError } from '@aiflock/core';
import { SANDBOX_SECRETS_DIR } from '../shared/secret-files.js';
import { SANDBOX_CREDENTIALS_DIR, SANDBOX_GID, SANDBOX_SHARED_DIR, SANDBOX_UID } from '../shared/shared-storage.js';

/**
 * The host side of a warm sandbox: a "slot" directory per warm container under the runtime's
 * warm root, whose parts are bind-mounted into it (with `rslave` propagation) where an
 * instance has its storage, its bus credentials and its secrets:
 *
 *   <slot>/shared  → /shared        (empty until claimed)
 *   <slot>/creds   → /run/aiflock   (empty until claimed)
 *   <slot>/secrets → /run/secrets   (empty until claimed)
 *   <slot>/claim   → /run/aiflock-claim (the identity file appears here at the claim)
 *
 * At the claim the daemon bind-mounts the instance's workspace, common folder, log volume,
 * credentials and secrets onto those places on the host; the warm root is a shared mount, so
 * the mounts propagate into the running container, at the very paths a cold start would have
 * mounted them (read-only ones are made read-only before they are moved in: a remount after
 * the fact would not reach the container's copy). Until then the container sees empty
 * directories and has nothing in its environment that names an agent.
 */

const run = promisify(execFile);

/** Where the waiting runtime looks for its identity (the agent's warm-claim.ts). */
export const SANDBOX_CLAIM_DIR = '/run/aiflock-claim';
export const IDENTITY_FILE = 'identity.json';

export const WARM_LABEL = 'aiflock.warm';
export const WARM_KEY_LABEL = 'aiflock.warm-key';

/** A warm sandbox's name: `w_` cannot begin an instance id (agent names are lower-case letters first). */
export const WARM_ID_PATTERN = /^w_[a-z0-9]{8}$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const newWarmId = (): string => `w_${Array.from({ length: 8 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;

export interface SlotPaths {
  slot: string;
  shared: string;
  creds: string;
  secrets: string;
  claim: string;
  /** The slot's own log volume, made and mounted before any claim (it shows as /shared/logs). */
  logs: string;
  /** Host only (never mounted): which instance claimed it, for listings after a restart. */
  record: string;
}

export function slotPaths(warmRoot: string, id: string): SlotPaths {
  if (!WARM_ID_PATTERN.test(id)) throw new FlockError('validation_failed', `warm sandbox id "${id}" is not valid`);
  const slot = join(warmRoot, id);
  return { slot, shared: join(slot, 'shared'), creds: join(slot, 'creds'), secrets: join(slot, 'secrets'), claim: join(slot, 'claim'), logs: join(slot, 'shared', 'logs'), record: join(warmRoot, `${id}.claim.json`) };
}

/** The warm container's mounts of its (still empty) slot. */
export function slotMounts(p: SlotPaths): NonNullable<NonNullable<ContainerCreateOptions['HostConfig']>['Mounts']> {
  const slave = { Propagation: 'rslave' as const };
  return [
    { Type: 'bind', Source: p.shared, Target: SANDBOX_SHARED_DIR, ReadOnly: true, BindOptions: slave },
    { Type: 'bind', Source: p.creds, Target: SANDBOX_CREDENTIALS_DIR, ReadOnly: true, BindOptions: slave },
    { Type: 'bind', Source: p.secrets, Target: SANDBOX_SECRETS_DIR, ReadOnly: true, BindOptions: slave },
    { Type: 'bind', Source: p.claim, Target: SANDBOX_CLAIM_DIR, ReadOnly: true },
  ];
}

/**
 * The warm root must be a shared mount for `rslave` binds of it to receive later mounts; the
 * staging directory (where read-only binds are made before they move in) must be a private one.
 */
export async function prepareWarmRoot(warmRoot: string): Promise<void> {
  for (const [dir, propagation] of [
    [warmRoot, '--make-rshared'],
    [stagingDir(warmRoot), '--make-rprivate'],
  ] as const) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o711);
    if (!(await isMountPoint(dir))) await sh('mount --bind "$1" "$1"', [dir]);
    await sh(`mount ${propagation} "$1"`, [dir]);
  }
}

const stagingDir = (warmRoot: string): string => `${warmRoot}.stage`;

/** When the flock goes down (every slot released first): the warm root's own mounts go, so its data directory can be deleted. */
export async function disposeWarmRoot(warmRoot: string): Promise<void> {
  for (const dir of [warmRoot, stagingDir(warmRoot)]) {
    if ((await mountsUnder(dir)).length === 1 && (await isMountPoint(dir))) await sh('umount "$1" 2>/dev/null || umount -l "$1"', [dir]);
  }
}

/** Empty slot directories, before the warm container is created. */
export async function createSlot(p: SlotPaths): Promise<void> {
  await rm(p.record, { force: true });
  await mkdir(p.slot, { mode: 0o755 });
  for (const d of [p.shared, p.logs, p.creds, p.secrets]) await mkdir(d, { mode: 0o755 });
  await mkdir(p.claim, { mode: 0o700 });
  await chown(p.claim, SANDBOX_UID, SANDBOX_GID);
  await chmod(p.claim, 0o500);
}

export interface ClaimBind {
  source: string;
  /** Where a cold-started container would have it. */
  target: string;
  readOnly: boolean;
}

/**
 * Mount what the instance gets into the slot, in one shell (one process for every mount: the
 * claim is on the path of a new instance), with as few commands as can be: a read-only one is
 * `mount -o bind,ro` in a staging place (bind and read-only remount in one command) and then
 * moved in, so that the container's copy is read-only from the start. The directories are made
 * and removed here, not by more commands. Each target must be one the warm container sees.
 */
export async function mountIntoSlot(warmRoot: string, p: SlotPaths, binds: ClaimBind[]): Promise<void> {
  const lines: string[] = ['set -e'];
  const args: string[] = [];
  // Braced: $10 would be $1 followed by a 0.
  const arg = (v: string) => `"\${${args.push(v)}}"`;
  const stage = `${stagingDir(warmRoot)}/${relative(warmRoot, p.slot)}`;
  const staged: string[] = [];
  for (const [i, b] of binds.entries()) {
    const at = hostTarget(p, b.target);
    if (at !== p.creds && at !== p.secrets) await mkdir(at, { recursive: true, mode: 0o755 });
    if (!b.readOnly) {
      lines.push(`mount --bind ${arg(b.source)} ${arg(at)}`);
      continue;
    }
    const s = `${stage}-${i}`;
    await mkdir(s, { recursive: true, mode: 0o700 });
    staged.push(s);
    lines.push(`mount -o bind,ro ${arg(b.source)} ${arg(s)}`, `mount --move ${arg(s)} ${arg(at)}`);
  }
  try {
    await sh(lines.join('\n'), args);
  } finally {
    for (const s of staged) await rmdir(s).catch(() => undefined);
  }
}

function hostTarget(p: SlotPaths, target: string): string {
  if (target === SANDBOX_CREDENTIALS_DIR) return p.creds;
  if (target === SANDBOX_SECRETS_DIR) return p.secrets;
  if (target.startsWith(`${SANDBOX_SHARED_DIR}/`)) return join(p.shared, target.slice(SANDBOX_SHARED_DIR.length + 1));
  throw new FlockError('internal', `a warm sandbox has no place for a mount at ${target}`);
}

/** Hand the waiting runtime its identity: written whole, then renamed into place (it never reads half a file). */
export async function writeIdentity(p: SlotPaths, env: Record<string, string>): Promise<void> {
  const tmp = join(p.claim, `.${IDENTITY_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify({ env }), { mode: 0o400 });
  await chown(tmp, SANDBOX_UID, SANDBOX_GID);
  await rename(tmp, join(p.claim, IDENTITY_FILE));
}

/**
 * Wake the waiting runtime at once (the agent's warm-claim.ts; SIGWINCH, which it would
 * otherwise ignore): the processes the container's init runs, or the init itself when it runs
 * the runtime directly. It also notices the file by itself; this only saves the wait for the notice.
 */
export async function wakeRuntime(pid: number): Promise<void> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const pids = children.trim() ? children.trim().split(/\s+/).map(Number) : [pid];
  for (const p of pids) {
    try {
      process.kill(p, 'SIGWINCH');
    } catch {
      // Gone meanwhile: it cannot be claimed anyway, and the reconciler will see it.
    }
  }
}

/** The slot's log directory for the claiming instance, bound where the host keeps instance logs (`<shared>/logs/<id>`). */
export async function bindLogDir(p: SlotPaths, instanceId: string, hostLogDir: string): Promise<void> {
  await mkdir(hostLogDir, { recursive: true, mode: 0o750 });
  // Private: nothing mounted there later is to travel back into the slot, or the other way.
  await sh('mount --bind "$1" "$2" && mount --make-private "$2"', [join(p.logs, instanceId), hostLogDir]);
}

export interface ClaimRecord {
  instanceId: string;
  agent: string;
  manifestDigest: string;
  /**
   * The manifest's CPU quota (Docker's NanoCpus), applied once the claimed runtime has
   * started (`CLAIM_CPU_GRACE_MS` after `claimedAtMs`); absent when the warm container
   * already had it. Kept here so that a daemon restarted meanwhile still applies it.
   */
  nanoCpus?: number;
  claimedAtMs?: number;
}

export async function writeClaimRecord(p: SlotPaths, record: ClaimRecord): Promise<void> {
  await writeFile(p.record, JSON.stringify(record), { mode: 0o600 });
}

export async function readClaimRecord(p: SlotPaths): Promise<ClaimRecord | null> {
  try {
    return JSON.parse(await readFile(p.record, 'utf8')) as ClaimRecord;
  } catch {
    return null;
  }
}

/**
 * After its container is gone: unmount everything under the slot (deepest first; lazily if the
 * kernel still holds it), then delete the slot. Nothing is deleted while anything is still
 * mounted under it: that would reach into an agent's workspace.
 */
export async function releaseSlot(p: SlotPaths): Promise<void> {
  for (const point of (await mountsUnder(p.slot)).sort((a, b) => b.length - a.length)) {
    await sh('umount "$1" 2>/dev/null || umount -l "$1"', [point]);
  }
  const left = await mountsUnder(p.slot);
  if (left.length > 0) throw new FlockError('internal', `warm slot ${p.slot} still has mounts (${left.join(', ')}); it is left in place`);
  await rm(join(p.claim, IDENTITY_FILE), { force: true });
  await removeEmptyTree(p.slot);
  await rm(p.record, { force: true });
}

/** rmdir bottom-up: only empty directories go (a file left means something is wrong; it stays). */
async function removeEmptyTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeEmptyTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}

/** Slots that exist on the host (a warm container may have gone with its engine). */
export async function listSlots(warmRoot: string): Promise<string[]> {
  const entries = await readdir(warmRoot).catch(() => [] as string[]);
  return entries.filter((e) => WARM_ID_PATTERN.test(e));
}

async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const point = line.split(' ')[4];
    if (!point) continue;
    const decoded = point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (decoded === dir || decoded.startsWith(`${dir}/`)) out.push(decoded);
  }
  return out;
}

async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountsUnder(dir)).includes(dir);
}

async function sh(script: string, args: string[]): Promise<void> {
  try {
    await run('sh', ['-c', script, 'sh', ...args]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new FlockError('runtime_unavailable', `mounting a warm sandbox's storage failed: ${(e.stderr ?? e.message).trim()}`);
  }
}
