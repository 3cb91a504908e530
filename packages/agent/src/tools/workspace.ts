import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ToolError } from './tool.js';

/** Whether `path` is `root` or below it (both absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The real path of `requested` inside the workspace, or a refusal naming why. `..` that
 * climbs out, absolute paths elsewhere, and symlinks (anywhere on the path, dangling ones
 * too) that lead out are all refused: the existing part of the path is resolved with
 * realpath and must stay inside; the part that does not exist yet cannot hold a symlink.
 */
export async function insideWorkspace(workspace: string, requested: string): Promise<string> {
  if (requested.includes('\0')) throw new ToolError('path contains a NUL byte');
  const root = await realpath(workspace);
  const abs = resolve(root, requested);
  if (!isInside(root, abs)) {
    const how = isAbsolute(requested) ? 'is an absolute path outside' : 'climbs out of';
    throw new ToolError(`path "${requested}" ${how} the workspace (${root}); only paths inside it are allowed`);
  }
  // The deepest part of the path that exists (lstat: a dangling symlink exists too).
  let existing = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      await lstat(existing);
      break;
    } catch {
      rest.unshift(basename(existing));
      existing = dirname(existing);
    }
  }
  let real: string;
  try {
    real = await realpath(existing);
  } catch {
    throw new ToolError(`path "${requested}" goes through a symlink whose target does not exist; refused, since it could lead out of the workspace`);
  }
  if (!isInside(root, real)) throw new ToolError(`path "${requested}" goes through a symlink to ${real}, outside the workspace (${root}); refused`);
  return join(real, ...rest);
}

/** A path as the model should see it: relative to the workspace. */
export function shown(root: string, abs: string): string {
  return relative(root, abs) || '.';
}
