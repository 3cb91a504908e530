import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * When a test fails, the daemon's own account of what went wrong is usually in its log, and
 * the flock's data directory (with that log) is deleted when the file's tests end. CI keeps
 * only the test output, so a failed test prints the last lines its flocks logged above debug.
 */
const homes = new Set<string>();
const SHOWN = 80;

export function watchFlockLog(home: string): () => void {
  homes.add(home);
  return () => homes.delete(home);
}

// Only under vitest: the benchmarks start flocks with this testkit too, outside any test runner
// (a static import of vitest there throws "Vitest failed to access its internal state").
if (process.env['VITEST']) {
  const { afterEach } = await import('vitest');
  afterEach(({ task }) => {
    if (task.result?.state !== 'fail') return;
    for (const home of homes) {
      let text = '';
      try {
        text = readFileSync(join(home, 'daemon.log'), 'utf8');
      } catch {
        continue;
      }
      const lines = text.split('\n').filter((l) => /^\{"level":"(info|warn|error)"/.test(l));
      process.stderr.write(`--- ${home}/daemon.log, its last ${Math.min(SHOWN, lines.length)} lines above debug (test failed: ${task.name}) ---\n${lines.slice(-SHOWN).join('\n')}\n---\n`);
    }
  });
}
