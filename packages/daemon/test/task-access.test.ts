import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * Who may run tasks on an agent (finding 2 of the attack review): a task runs with the
 * agent's secrets and tools, so a `human` token must not run `cat /run/secrets/x` on someone
 * else's agent. Only its owner, admins and identities the manifest shares it with
 * (`access.runTasks`) may queue or cancel its tasks. Real tokens through the real auth layer.
 */
let h: ApiHarness;
const tok = {} as Record<'carol' | 'ann' | 'bob', { secret: string; id: string }>;

beforeAll(async () => {
  h = await startApi();
  for (const [name, scopes] of [
    ['carol', ['agents:write', 'human']],
    ['ann', ['human']],
    ['bob', ['human']],
  ] as const) {
    const secret = await h.token([...scopes], name);
    tok[name] = { secret, id: (await h.auth.authenticateToken(secret)).id };
  }
  const vault = 'name: vault\nhandlers: [shell]\ntools: { shell: true }\n';
  expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest: vault }, token: tok.carol.secret })).status).toBe(201);
  const shared = `name: shared\nhandlers: [echo]\naccess: { runTasks: ["${tok.ann.id}"] }\n`;
  expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest: shared }, token: tok.carol.secret })).status).toBe(201);
  const open = 'name: public\nhandlers: [echo]\naccess: { runTasks: ["*"] }\n';
  expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest: open }, token: tok.carol.secret })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const run = (who: keyof typeof tok | 'admin', agent: string, input: unknown = 'cat /run/secrets/x') =>
  h.fetch('/v1/jobs', { method: 'POST', body: { agent, input }, token: who === 'admin' ? h.adminToken : tok[who].secret });
const queued = async () => (await h.store.tasks.list({ limit: 500 })).length;

describe('running tasks on an agent', () => {
  it('a human token cannot run a task on someone else’s agent, by /jobs or /tasks; nothing is queued', async () => {
    const before = await queued();
    const r = await run('ann', 'vault');
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'task_access_denied', details: { agent: 'vault', actor: tok.ann.id } });
    expect(r.body.error.message).toContain('access.runTasks');
    const t = await h.fetch('/v1/tasks', { method: 'POST', body: { agent: 'vault', input: 'id' }, token: tok.ann.secret });
    expect(t.status).toBe(403);
    expect(await queued()).toBe(before);
  });

  it('its owner and an admin can', async () => {
    expect((await run('carol', 'vault', 'true')).status).toBe(202);
    expect((await run('admin', 'vault', 'true')).status).toBe(202);
  });

  it('a manifest shares it with named identities, or with everyone ("*")', async () => {
    expect((await run('ann', 'shared', 1)).status).toBe(202);
    expect((await run('bob', 'shared', 1)).status).toBe(403);
    expect((await run('bob', 'public', 1)).status).toBe(202);
  });

  it('someone else cannot cancel the owner’s task either', async () => {
    const { jobId } = (await run('carol', 'vault', 'sleep 100')).body as { jobId: string };
    const r = await h.fetch(`/v1/jobs/${jobId}/cancel`, { method: 'POST', token: tok.ann.secret });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('task_access_denied');
    expect((await h.store.tasks.get(jobId))?.status).toBe('queued');
    expect((await h.fetch(`/v1/jobs/${jobId}/cancel`, { method: 'POST', token: tok.carol.secret })).status).toBe(200);
  });

  it('a bad access entry is refused at deploy, naming the field', async () => {
    const r = await h.fetch('/v1/agents', { method: 'POST', body: { manifest: 'name: odd\naccess: { runTasks: ["a b"] }\n' }, token: tok.carol.secret });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body.error)).toContain('access.runTasks');
  });
});
