import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../testkit/flock.js';

/*
 * The Prometheus files in deploy/prometheus, with Prometheus' own promtool (Debian's
 * prometheus package; scripts/bootstrap.sh --test installs it): the config and rules load,
 * and every alert fires when it should and not before (alerts.test.yml). The daemon's
 * /metrics is checked with `promtool check metrics` in test/cli-ops.test.ts, which runs a flock.
 */
const DIR = join(REPO_ROOT, 'deploy', 'prometheus');
const promtool = (args: string[]) =>
  new Promise<{ code: number; out: string }>((done) =>
    execFile('promtool', args, { cwd: DIR }, (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr })),
  );

describe('deploy/prometheus', () => {
  it('the rules load and their unit tests pass', async () => {
    const check = await promtool(['check', 'rules', 'alerts.yml']);
    expect(check.out).toContain('SUCCESS: 7 rules found');
    expect(check.code).toBe(0);
    const test = await promtool(['test', 'rules', 'alerts.test.yml']);
    expect(test.out, test.out).toContain('SUCCESS');
    expect(test.code).toBe(0);
  });

  it('prometheus.yml is valid and names the rules file', async () => {
    // --syntax-only: the token file it reads lives on the Prometheus host, not here.
    const r = await promtool(['check', 'config', '--syntax-only', 'prometheus.yml']);
    expect(r.out, r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
    expect(parse(await readFile(join(DIR, 'prometheus.yml'), 'utf8')).rule_files).toEqual(['alerts.yml']);
  });
});
