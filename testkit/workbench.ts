import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './flock.js';

/**
 * The workbench image for tests: the content tag scripts/test.sh built (not :latest, which
 * another build on this machine may move), else built (or found cached) here.
 */
export function ensureWorkbench(): string {
  const given = process.env['AIFLOCK_TEST_WORKBENCH_IMAGE'];
  if (given) return given;
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'build-workbench.sh'), '--json'], { encoding: 'utf8', timeout: 40 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/build-workbench.sh failed (status ${r.status})`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { workbench: string }).workbench;
}
