import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this CLI runs from (packages/cli/{src,dist}/paths.* → repo root). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function homeDir(env: NodeJS.ProcessEnv): string {
  return resolve(env['AIFLOCK_HOME'] ?? join(homedir(), '.aiflock'));
}

/** The API URL: --api, else $AIFLOCK_API, else the running daemon's info file, else the default. */
export function apiUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return flag.replace(/\/$/, '');
  if (env['AIFLOCK_API']) return env['AIFLOCK_API'].replace(/\/$/, '');
  const info = join(homeDir(env), 'daemon.json');
  if (existsSync(info)) {
    try {
      const parsed = JSON.parse(readFileSync(info, 'utf8')) as { apiUrl?: string };
      if (parsed.apiUrl) return parsed.apiUrl;
    } catch {
      // A torn write while the daemon starts: fall through to the default.
    }
  }
  return `http://127.0.0.1:${env['AIFLOCK_API_PORT'] ?? '8080'}`;
}

/**
 * The bearer token: --token, else $AIFLOCK_TOKEN, else the admin token the local daemon
 * left in its data dir on first start (readable only by its owner).
 */
export function apiToken(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag) return flag.trim();
  if (env['AIFLOCK_TOKEN']) return env['AIFLOCK_TOKEN'].trim();
  const file = join(homeDir(env), 'admin.token');
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
