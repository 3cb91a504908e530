import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Orders test files so the long ones start first. With two workers, a four-minute file that
 * starts last leaves one worker idle for most of those minutes; on a fresh clone (CI) Vitest
 * has no timings of its own and orders by file size, which says little about run time here.
 * `test/durations.json` holds each file's seconds from a full run (rounded; refresh it when
 * the slow files change). Files it does not know run first, as Vitest's own order does: a new
 * file may be slow, and a fast one costs little wherever it runs.
 */
export default class SlowestFirst extends BaseSequencer {
  private readonly seconds = new Map(Object.entries(JSON.parse(readFileSync(new URL('../test/durations.json', import.meta.url), 'utf8')) as Record<string, number>));

  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const known = (spec: TestSpecification) => this.seconds.get(relative(root, spec.moduleId));
    const unknown = files.filter((f) => known(f) === undefined);
    const timed = files.filter((f) => known(f) !== undefined).sort((a, b) => known(b)! - known(a)!);
    return [...(await super.sort(unknown)), ...timed];
  }
}
