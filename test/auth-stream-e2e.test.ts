import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CreatedToken, StreamMessage, TokenView } from '@aiflock/protocol';
import { REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * Auth and the job stream through the real daemon, CLI and a real agent in Docker.
 */
let flock: TestFlock;
let firstUp: string;

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  firstUp = up.stdout + up.stderr;
});

afterAll(async () => {
  await flock?.cleanup();
});

describe('first start', () => {
  it('creates one admin token, shows it once on `up`, never in the log file, and leaves it for the local CLI (0600)', async () => {
    const file = join(flock.home, 'admin.token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = await flock.adminToken();
    expect(token).toMatch(/^afk_/);
    expect(firstUp.split(token).length - 1).toBe(1);
    const log = await flock.logShowing('first start: created the admin token');
    expect(log).not.toContain(token);
    expect(log).not.toMatch(/afk_/);
    // A second `up` (the daemon already running) does not show it again.
    const again = await flock.cli(['up', '--no-demo']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).not.toContain(token);
    const tokens = await flock.cliJson<TokenView[]>(['token', 'list']);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ name: 'bootstrap-admin', scopes: ['admin'], revoked: false });
  });

  it('refuses the API without a token, and the CLI with a bad one (exit 7)', async () => {
    const none = await flock.api('/v1/agents', { token: null });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthenticated');
    const bad = await flock.cli(['agent', 'list'], { token: 'afk_nope' });
    expect(bad.code).toBe(7);
    expect(bad.stderr).toContain('unknown token');
    expect((await flock.api('/healthz', { token: null })).status).toBe(200);
  });
});

describe('aiflock token', () => {
  it('creates a scoped token, which works for its scope only, and revokes it', async () => {
    const made = await flock.cliJson<CreatedToken>(['token', 'create', '--name', 'reader', '--scope', 'jobs:read', 'agents:read', '--expires', '30d']);
    expect(made.scopes).toEqual(['jobs:read', 'agents:read']);
    expect(Date.parse(made.expiresAt!) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await flock.cli(['task', 'list'], { token: made.token })).code).toBe(0);
    const deploy = await flock.cli(['agent', 'deploy', join(REPO_ROOT, 'examples', 'echo.agent.yaml')], { token: made.token });
    expect(deploy.code).toBe(7);
    expect(deploy.stderr).toContain('lacks scope "agents:write"');

    const unknown = await flock.cli(['token', 'create', '--name', 'x', '--scope', 'superuser']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('"superuser"');

    const revoked = await flock.cliJson<TokenView>(['token', 'revoke', made.id]);
    expect(revoked.revoked).toBe(true);
    expect((await flock.cli(['task', 'list'], { token: made.token })).code).toBe(7);
    expect((await flock.cli(['token', 'revoke', 'tok_0000000000000000'])).code).toBe(3);
  });
});

/** Read a job stream until the server closes it, or until `dropAfterLogs` log messages, then cut the connection. */
function readStream(url: string, token: string, dropAfterLogs?: number): Promise<StreamMessage[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const got: StreamMessage[] = [];
    ws.on('message', (d) => {
      got.push(JSON.parse(String(d)) as StreamMessage);
      if (dropAfterLogs !== undefined && got.filter((m) => m.type === 'log').length >= dropAfterLogs) ws.terminate();
    });
    ws.on('close', () => resolve(got));
    ws.on('error', reject);
  });
}

describe('WS /v1/stream/{id} with a real agent', () => {
  it('a client that drops mid-job and resumes with ?after= gets exactly what it missed', async () => {
    const deploy = await flock.cli(['agent', 'deploy', join(REPO_ROOT, 'examples', 'shell.agent.yaml')]);
    expect(deploy.code, deploy.stderr).toBe(0);
    const created = await flock.api('/v1/jobs', {
      method: 'POST',
      body: { agent: 'shell', type: 'shell', input: 'for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; sleep 0.3; done' },
    });
    expect(created.status).toBe(202);
    const jobId = created.body.jobId as string;
    const base = `${flock.apiUrl.replace('http', 'ws')}/v1/stream/${jobId}`;
    const admin = await flock.adminToken();

    const first = await readStream(base, admin, 3);
    const events = (ms: StreamMessage[]) => ms.filter((m) => m.type !== 'heartbeat');
    const lastSeen = events(first).at(-1)!.id;
    const rest = await readStream(`${base}?after=${lastSeen}`, admin);
    const replay = await readStream(`${base}?after=0`, admin);

    const joined = [...events(first), ...events(rest)];
    expect(joined).toEqual(events(replay));
    const ids = joined.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    const lines = joined.filter((m) => m.type === 'log').map((m) => (m.payload as { msg: string }).msg).filter((l) => l.startsWith('line-'));
    expect(lines).toEqual(Array.from({ length: 10 }, (_, i) => `line-${i + 1}`));
    const statuses = joined.filter((m) => m.type === 'status').map((m) => (m.payload as { status: string }).status);
    expect(statuses[0]).toBe('queued');
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('completed');
    expect(joined.some((m) => m.type === 'result')).toBe(true);
    // The first connection really was cut mid-job: what it saw did not include the result.
    expect(events(first).some((m) => m.type === 'result')).toBe(false);
  });
});
