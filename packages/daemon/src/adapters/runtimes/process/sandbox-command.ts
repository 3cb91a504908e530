import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { SANDBOX_GID, SANDBOX_UID } from '../shared/shared-storage.js';

export interface SandboxCommandInput {
  hostname: string;
  /** Host path → sandbox path, read-write. */
  binds: [string, string][];
  /** Host path → sandbox path, read-only. */
  roBinds: [string, string][];
  tmpBytes: number;
  env: Record<string, string>;
  /** The program and its arguments, as seen inside the sandbox. */
  argv: string[];
}

/** Top-level system directories: bound read-only, or re-created as the same symlink (merged /usr). */
function systemDirs(): string[] {
  const out: string[] = ['--ro-bind', '/usr', '/usr'];
  for (const d of ['/bin', '/sbin', '/lib', '/lib64', '/lib32']) {
    if (!existsSync(d)) continue;
    if (lstatSync(d).isSymbolicLink()) out.push('--symlink', readlinkSync(d), d);
    else out.push('--ro-bind', d, d);
  }
  if (existsSync('/etc/ssl')) out.push('--ro-bind', '/etc/ssl', '/etc/ssl');
  return out;
}

/** The descriptor the launcher hands bubblewrap the compiled seccomp filter on (stdio's fourth). */
export const SECCOMP_FD = 3;

/**
 * The process runtime's confinement as an argv: `setpriv` drops to the sandbox user with no
 * capabilities at all (so bubblewrap runs unprivileged and its user namespace maps 1001 to
 * 1001, never to root), then bubblewrap unshares every namespace (no network: not even the
 * host's loopback), shows only /usr and the instance's own binds, read-only root, tmpfs /tmp,
 * loads the flock's seccomp filter (from SECCOMP_FD) for the program it runs, and dies with
 * its parent.
 */
export function sandboxCommand(input: SandboxCommandInput): string[] {
  const args = [
    'setpriv',
    `--reuid=${SANDBOX_UID}`,
    `--regid=${SANDBOX_GID}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
    'bwrap',
    '--seccomp',
    String(SECCOMP_FD),
    '--die-with-parent',
    '--unshare-all',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--hostname',
    input.hostname,
    ...systemDirs(),
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--size',
    String(input.tmpBytes),
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/run',
  ];
  for (const [src, dst] of input.roBinds) args.push('--ro-bind', src, dst);
  for (const [src, dst] of input.binds) args.push('--bind', src, dst);
  args.push('--remount-ro', '/', '--chdir', '/tmp', '--clearenv');
  for (const [k, v] of Object.entries(input.env)) args.push('--setenv', k, v);
  args.push('--', ...input.argv);
  return args;
}

/**
 * Runs as root just long enough to put itself into the instance's cgroups, then becomes the
 * sandbox: `sh -c` with arguments only (nothing is interpolated into the script).
 */
export const LAUNCH_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';

export function launcherArgv(procsFiles: string[], command: string[]): string[] {
  return ['-c', LAUNCH_SCRIPT, 'aiflock-launch', String(procsFiles.length), ...procsFiles, ...command];
}
