import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, open, readdir, readFile, realpath, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FlockError } from '@aiflock/core';

/**
 * Size-limited volumes: an ext4 image per workspace and per instance log, loop-mounted where
 * the sandbox's bind comes from.
 *
 * An agent's workspace is a file system of its own: an ext4 image (a sparse file under
 * `<shared>/volumes`, which no sandbox mounts) loop-mounted at `<shared>/agents/<agent>`.
 * Its size is a hard limit set by the kernel: a sandbox that writes past it gets ENOSPC
 * there, and the host's disk and other agents' workspaces are untouched. The overlay2/ext4
 * storage this host's Docker uses has no per-directory quota (that needs XFS or `prjquota`),
 * and a watcher that stops an agent after the fact would let it fill the disk first.
 *
 * Replicas of an agent share one mount. The mount outlives a daemon restart (it is the
 * host's), so a restarted daemon finds it in place and reuses it; after a reboot the image is
 * mounted again. `mount -o loop` attaches the image with auto-clear, so the loop device goes
 * with the last mount of it (the host's and any sandbox's).
 */

const run = promisify(execFile);
/** Smallest workspace: ext4's own metadata needs a few MiB. */
export const MIN_WORKSPACE_BYTES = 16 * 1024 ** 2;

export function volumesDir(sharedDir: string): string {
  return join(sharedDir, 'volumes');
}

export function workspaceImage(sharedDir: string, agent: string): string {
  return join(volumesDir(sharedDir), `${agent}.ext4`);
}

/** Mount (or find mounted) the agent's workspace volume at `workspace`, at least `bytes` big. */
export async function mountWorkspaceVolume(sharedDir: string, agent: string, workspace: string, bytes: number): Promise<void> {
  if (!Number.isInteger(bytes) || bytes < MIN_WORKSPACE_BYTES) {
    throw new FlockError('validation_failed', `the workspace size of ${agent} must be an integer of at least ${MIN_WORKSPACE_BYTES} bytes, got ${bytes}`, { field: 'resources.workspace', value: bytes });
  }
  await mountVolume(workspaceImage(sharedDir, agent), workspace, bytes, `the workspace volume of ${agent}`);
}

/**
 * An instance's log directory is a volume of its own too: the agent rotates its log file
 * (RotatingFile in the agent), and the volume's size holds even against a sandbox that
 * writes there by other means. Sized for `keep` old files and the current one.
 */
export async function mountLogVolume(sharedDir: string, instanceId: string, dir: string, maxBytes: number, keep: number): Promise<void> {
  const bytes = Math.max(MIN_WORKSPACE_BYTES, maxBytes * (keep + 1) + LOG_VOLUME_SLACK);
  await mountVolume(logImage(sharedDir, instanceId), dir, bytes, `the log volume of ${instanceId}`);
}

/**
 * When an instance is removed its log files move out of the volume into the same directory,
 * now a plain one (at most the volume's size), and the image and its loop device go.
 */
export async function retireLogVolume(sharedDir: string, instanceId: string, dir: string): Promise<void> {
  const image = logImage(sharedDir, instanceId);
  if (!(await exists(image))) return;
  const saving = `${dir}.saving`;
  if (await mountSource(dir)) {
    await rm(saving, { recursive: true, force: true });
    await cp(dir, saving, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, filter: (src) => !src.endsWith('/lost+found') });
    await unmount(dir);
  }
  await rm(image, { force: true });
  if (await exists(saving)) {
    await rm(dir, { recursive: true, force: true });
    await rename(saving, dir);
  }
}

/**
 * A log volume made ahead under another name (a warm sandbox's id) becomes `instanceId`'s:
 * its image takes the instance's name, so retireLogVolume finds it. The loop device holds the
 * open file, not its name. Never onto an existing image: each volume has one instance.
 */
export async function handOverLogVolume(sharedDir: string, from: string, instanceId: string): Promise<void> {
  const to = logImage(sharedDir, instanceId);
  if (await exists(to)) throw new FlockError('internal', `${instanceId} already has a log volume; a warm sandbox's is not handed to it`);
  await rename(logImage(sharedDir, from), to);
}

/** The image of a log volume no instance got (a discarded warm sandbox's), once unmounted. */
export async function removeLogImage(sharedDir: string, id: string): Promise<void> {
  await rm(logImage(sharedDir, id), { force: true });
}

/** ext4's own metadata (journal, inode tables) in a small log volume. */
const LOG_VOLUME_SLACK = 8 * 1024 ** 2;

function logImage(sharedDir: string, instanceId: string): string {
  return join(volumesDir(sharedDir), 'logs', `${instanceId}.ext4`);
}

async function mountVolume(image: string, dir: string, bytes: number, what: string): Promise<void> {
  await mkdir(join(image, '..'), { recursive: true, mode: 0o700 });
  const mounted = await mountSource(dir);
  if (mounted) {
    // A replica or a restarted daemon: the volume is in place. Only growing is possible while
    // sandboxes use it; a smaller size applies once the agent has no instance left.
    const size = (await stat(image)).size;
    if (bytes > size) await growMounted(image, mounted, bytes);
    return;
  }
  const created = !(await exists(image));
  // Not mounted here, but perhaps still in use: a sandbox's bind of it, or a lazy unmount
  // whose last user has not let go, keeps its loop device and file system alive. Checking or
  // resizing the image under a live file system would corrupt it; mounting it again shares it.
  const live = created ? null : await attachedLoop(image);
  if (live) {
    // Grown online once mounted here (resize2fs finds it through its mount point), like a replica's.
    await cmd('mount', ['-t', 'ext4', '-o', 'nosuid,nodev', live, dir], `mount ${what}`);
    if (bytes > (await stat(image)).size) await growMounted(image, live, bytes);
    return;
  }
  if (created) await createImage(image, dir, bytes);
  else await resizeUnmounted(image, bytes);
  await cmd('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev', image, dir], `mount ${what}`);
  // mkfs makes an empty, root-owned lost+found; an agent's new workspace should be empty.
  // e2fsck makes it again when it needs one, so only a just-made one goes (never recovered files).
  if (created) await rm(join(dir, 'lost+found'), { recursive: true, force: true });
}

/**
 * Unmount the agent's workspace (its files stay in the image). Call it when no instance of the
 * agent is left: a sandbox that still runs keeps its own reference, and the next mount of the
 * image reuses that loop device (the same file system, never a second one on the same image).
 */
export async function unmountWorkspaceVolume(workspace: string): Promise<void> {
  if (!(await mountSource(workspace))) return;
  await unmount(workspace);
}

/**
 * For `agent remove`: bring the files out of the volume into `archiveTo` (a plain directory),
 * or drop them (`null`), then delete the image and the mount point. Without an image (a
 * workspace from before volumes) nothing is done here.
 */
export async function retireWorkspaceVolume(sharedDir: string, agent: string, workspace: string, archiveTo: string | null): Promise<boolean> {
  const image = workspaceImage(sharedDir, agent);
  if (!(await exists(image))) return false;
  if (archiveTo) {
    // Read-write, though only read: its sandboxes may still hold the file system read-write
    // (they go after `agent remove` answers), and the kernel refuses a read-only second mount of it.
    if (!(await mountSource(workspace))) {
      const live = await attachedLoop(image);
      await cmd('mount', ['-t', 'ext4', '-o', 'nosuid,nodev', ...(live ? [live] : ['-o', 'loop', image]), workspace], `mount the workspace volume of ${agent}`);
    }
    await mkdir(archiveTo, { recursive: true, mode: 0o700 });
    for (const name of await readdir(workspace)) {
      if (name !== 'lost+found') await cp(join(workspace, name), join(archiveTo, name), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
  }
  await unmountWorkspaceVolume(workspace);
  await rm(image, { force: true });
  await rm(workspace, { recursive: true, force: true });
  return true;
}

/**
 * The device mounted at `dir`, or null when nothing is. Read from the kernel's own table
 * (`/proc/self/mountinfo`: field 5 is the mount point, the source follows " - <fstype>").
 */
export async function mountSource(dir: string): Promise<string | null> {
  const real = await realpath(dir).catch(() => dir);
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  let source: string | null = null;
  for (const line of table.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 10 || unescape(fields[4]!) !== real) continue;
    const dash = fields.indexOf('-');
    source = unescape(fields[dash + 2] ?? ''); // the last mount on a point is the one in use
  }
  return source;
}

/** Every mount point strictly beneath `dir`, deepest first (the order to unmount them in). */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  const real = await realpath(dir).catch(() => dir);
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  const points = new Set<string>();
  for (const line of table.split('\n')) {
    const point = unescape(line.split(' ')[4] ?? '');
    if (point.startsWith(`${real}/`)) points.add(point);
  }
  return [...points].sort((a, b) => b.length - a.length);
}

/** Sparse image, ext4, no reserved blocks; a workspace that already holds files is copied in. */
async function createImage(image: string, workspace: string, bytes: number): Promise<void> {
  const fh = await open(image, 'wx', 0o600);
  await fh.close();
  await truncate(image, bytes);
  // Files from before volumes (or written while none was mounted) become the volume's content.
  const legacy = (await readdir(workspace)).length > 0;
  try {
    await cmd('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'root_owner=0:0', ...(legacy ? ['-d', workspace] : []), image], 'make the workspace file system');
  } catch (err) {
    await rm(image, { force: true });
    const why = legacy ? ` (the workspace's existing files may not fit in ${bytes} bytes)` : '';
    throw new FlockError('runtime_unavailable', `${(err as Error).message}${why}`);
  }
  // They now live in the image; the directory is only the mount point.
  if (legacy) for (const name of await readdir(workspace)) await rm(join(workspace, name), { recursive: true, force: true });
}

async function resizeUnmounted(image: string, bytes: number): Promise<void> {
  const size = (await stat(image)).size;
  if (size === bytes) return;
  await cmd('e2fsck', ['-f', '-p', image], 'check the workspace file system before resizing');
  if (bytes > size) {
    await truncate(image, bytes);
    await cmd('resize2fs', [image], 'grow the workspace file system');
  } else {
    // resize2fs refuses (and changes nothing) when the files do not fit in the smaller size.
    await cmd('resize2fs', [image, `${Math.floor(bytes / 1024)}K`], `shrink the workspace to ${bytes} bytes (do its files fit?)`);
    await truncate(image, bytes);
  }
}

async function growMounted(image: string, device: string, bytes: number): Promise<void> {
  await truncate(image, bytes);
  await cmd('losetup', ['-c', device], 'tell the loop device its image grew');
  await cmd('resize2fs', [device], 'grow the mounted workspace file system');
}

/** The loop device `image` is attached to, if any (`losetup -j` lists them; auto-clear ones go with their last mount). */
export async function attachedLoop(image: string): Promise<string | null> {
  try {
    const { stdout } = await run('losetup', ['-j', image], { timeout: 30_000 });
    return /^(\/dev\/loop\d+):/m.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Unmount `dir`. Right after its sandbox went, the kernel may still hold the container's
 * mount namespace (and with it this mount) for a moment, and umount says "target is busy":
 * asked again for a few seconds, then detached lazily (gone from the host's tree at once,
 * the file system freed when its last user lets go), so no volume is left mounted for good.
 */
async function unmount(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await cmd('umount', [dir], `unmount ${dir}`);
    } catch (err) {
      if (!/busy/i.test((err as Error).message)) throw err;
      if (attempt >= 8) return cmd('umount', ['--lazy', dir], `detach ${dir}`);
      await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
    }
  }
}

async function cmd(file: string, args: string[], what: string): Promise<void> {
  try {
    await run(file, args, { timeout: 120_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const detail = e.code === 'ENOENT' ? `${file} is not installed (e2fsprogs, util-linux)` : (e.stderr?.trim() || e.message);
    throw new FlockError('runtime_unavailable', `could not ${what}: ${detail}`);
  }
}
