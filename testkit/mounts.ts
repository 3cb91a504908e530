import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';

/** Mount points strictly beneath `dir` (the flock's volumes live under its data directory), deepest first. */
export function mountsUnder(dir: string): string[] {
  const real = realpathSync(dir);
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p.startsWith(`${real}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Detach what a failed test left mounted, so that its directory can go. */
export function unmountAll(points: string[]): void {
  for (const p of points) execFileSync('umount', ['-l', p]);
}
