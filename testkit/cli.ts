import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..');
/** The built CLI (`npm run build`). */
export const CLI = join(REPO, 'packages', 'cli', 'dist', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would; never rejects: a failure is its exit code and stderr. */
export function runCli(args: string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string }): Promise<CliResult> {
  return new Promise<CliResult>((done) => {
    execFile(process.execPath, [CLI, ...args], { env: opts.env, timeout: opts.timeoutMs, maxBuffer: 16 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

export interface ApiCli {
  run(args: string[]): Promise<CliResult>;
  /** Removes the CLI's home. */
  cleanup(): void;
}

/**
 * The built CLI pointed at an API a test serves (`--api`), with a home of its own so that the
 * config or token of a flock the developer runs (~/.aiflock) never reaches it. It
 * authenticates with `token()` when given, else with none.
 */
export function apiCli(url: () => string, opts: { token?: () => string; cwd?: string } = {}): ApiCli {
  const home = mkdtempSync(join(tmpdir(), 'aiflock-api-cli-'));
  return {
    run(args) {
      const env: NodeJS.ProcessEnv = { ...process.env, AIFLOCK_HOME: home };
      delete env['AIFLOCK_TOKEN'];
      if (opts.token) env['AIFLOCK_TOKEN'] = opts.token();
      return runCli(['--api', url(), ...args], { env, timeoutMs: 60_000, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    },
    cleanup() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}
