import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../testkit/flock.js';
import { startApi, type ApiHarness } from '../packages/daemon/test/http-harness.js';

/**
 * The built CLI against the daemon's real HTTP API (real SQLite, real nats-server; no
 * sandboxes needed for these commands).
 */
const CLI = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js');
let api: ApiHarness;
let home: string;

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      [CLI, '--api', api.url, ...args],
      { env: { PATH: process.env['PATH'] ?? '', AIFLOCK_HOME: home, ...env } },
      (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

beforeAll(async () => {
  api = await startApi({ rateLimit: { max: 40, windowMs: 60_000 } });
  home = mkdtempSync(join(tmpdir(), 'aiflock-cli-auth-'));
  // What the daemon leaves on first start; the CLI picks it up with no flag or variable.
  writeFileSync(join(home, 'admin.token'), `${api.adminToken}\n`, { mode: 0o600 });
  const manifest = readFileSync(join(REPO_ROOT, 'examples', 'echo.agent.yaml'), 'utf8');
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
});
afterAll(async () => {
  await api?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('aiflock token against the API', () => {
  it('creates (secret on stdout once), lists and revokes; the token works only until revoked', async () => {
    const made = await run(['token', 'create', '--name', 'ci', '--scope', 'jobs:read,agents:read']);
    expect(made.code, made.stderr).toBe(0);
    const secret = made.stdout.trim();
    expect(secret).toMatch(/^afk_/);
    expect(made.stderr).toContain('shown only now');

    const list = JSON.parse((await run(['token', 'list', '--json'])).stdout) as { id: string; name: string; scopes: string[] }[];
    const ci = list.find((t) => t.name === 'ci')!;
    expect(ci.scopes).toEqual(['jobs:read', 'agents:read']);
    expect(JSON.stringify(list)).not.toContain(secret);
    const human = await run(['token', 'list']);
    expect(human.stdout).toMatch(/ID\s+NAME\s+SCOPES/);

    expect((await run(['task', 'list'], { AIFLOCK_TOKEN: secret })).code).toBe(0);
    expect((await run(['--token', secret, 'token', 'list'])).code).toBe(7);
    const revoke = await run(['token', 'revoke', ci.id, '--json']);
    expect(JSON.parse(revoke.stdout).revoked).toBe(true);
    const after = await run(['task', 'list'], { AIFLOCK_TOKEN: secret });
    expect(after.code).toBe(7);
    expect(after.stderr).toContain('revoked');
  });

  it('refuses bad input with exit 2 and names it', async () => {
    const badScope = await run(['token', 'create', '--name', 'x', '--scope', 'root']);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain('"root"');
    const badExpiry = await run(['token', 'create', '--name', 'x', '--scope', 'jobs:read', '--expires', 'soon']);
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain('--expires');
    expect((await run(['token', 'revoke', 'nonsense'])).code).toBe(2);
  });

  it('without any token, says how to get one (exit 7)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'aiflock-empty-'));
    try {
      const r = await run(['agent', 'list'], { AIFLOCK_HOME: empty });
      expect(r.code).toBe(7);
      expect(r.stderr).toContain('AIFLOCK_TOKEN');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('aiflock stats and top', () => {
  it('stats --json shows agents and jobs by status', async () => {
    await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'echo', input: 1 } });
    const r = await run(['stats', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.agents.map((a: { name: string }) => a.name)).toContain('echo');
    expect(s.jobs.queued).toBeGreaterThan(0);
    expect(typeof s.finishedLastMinute).toBe('number');
  });

  it('top refreshes the requested number of times', async () => {
    const r = await run(['top', '--json', '--iterations', '2', '--interval', '1']);
    expect(r.code, r.stderr).toBe(0);
    const frames = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(frames).toHaveLength(2);
    const drawn = await run(['top', '--iterations', '1']);
    expect(drawn.stdout).toContain('AGENT');
  });
});

describe('aiflock log-level', () => {
  it('shows and changes the level at runtime; a bad level exits 2 naming it', async () => {
    expect(JSON.parse((await run(['log-level', 'warn', '--json'])).stdout)).toEqual({ level: 'warn' });
    expect((await run(['log-level'])).stdout.trim()).toBe('warn');
    const bad = await run(['log-level', 'chatty']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('level');
  });
});

describe('rate limit through the CLI', () => {
  it('exits 8 once the token is over its limit', async () => {
    const token = await api.token(['jobs:read']);
    // The limit's worth of requests straight to the API, all within its window: one CLI process
    // each took over a second under load, and the window slid before the limit was reached.
    const first = await run(['task', 'list', '--json'], { AIFLOCK_TOKEN: token });
    expect(first.code, first.stderr).toBe(0);
    const answers = await Promise.all(Array.from({ length: 39 }, () => api.fetch('/v1/tasks', { token })));
    expect(answers.filter((a) => a.status !== 200).map((a) => a.status)).toEqual([]);
    const over = await run(['task', 'list', '--json'], { AIFLOCK_TOKEN: token });
    expect(over.code, over.stderr).toBe(8);
  });
});
