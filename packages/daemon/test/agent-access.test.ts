import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * `agents:write` lets a person deploy agents of their own, not take over someone else's: a
 * redeploy with another manifest would hand the attacker that agent's secrets, egress and
 * money, and scale/stop/remove would let them switch it off. Real tokens, real auth layer.
 */
let h: ApiHarness;
const tok = {} as Record<'carol' | 'mallory', { secret: string; id: string }>;
const vault = 'name: vault\nhandlers: [shell]\ntools: { shell: true }\nreplicas: 1\n';

beforeAll(async () => {
  h = await startApi();
  for (const name of ['carol', 'mallory'] as const) {
    const secret = await h.token(['agents:write'], name);
    tok[name] = { secret, id: (await h.auth.authenticateToken(secret)).id };
  }
  expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest: vault }, token: tok.carol.secret })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const as = (who: keyof typeof tok | 'admin', path: string, init: { method: string; body?: unknown }) =>
  h.fetch(path, { ...init, token: who === 'admin' ? h.adminToken : tok[who].secret });

describe('changing an agent that is not yours', () => {
  it('another agents:write holder can neither redeploy, scale, stop nor remove it; nothing changes', async () => {
    const before = await h.store.deployments.get('vault');
    const takeover = 'name: vault\nhandlers: [shell]\ntools: { shell: true }\nnetwork: { egress: ["evil.example"] }\n';
    const attempts = [
      await as('mallory', '/v1/agents', { method: 'POST', body: { manifest: takeover } }),
      await as('mallory', '/v1/agents/vault/scale', { method: 'POST', body: { replicas: 0 } }),
      await as('mallory', '/v1/agents/vault/stop', { method: 'POST' }),
      await as('mallory', '/v1/agents/vault', { method: 'DELETE' }),
    ];
    for (const r of attempts) {
      expect(r.status).toBe(403);
      expect(r.body.error).toMatchObject({ code: 'agent_access_denied', details: { agent: 'vault', actor: tok.mallory.id, owner: tok.carol.id } });
    }
    expect(await h.store.deployments.get('vault')).toEqual(before);
    const denied = (await h.store.audit.list({ actor: tok.mallory.id, limit: 100 })).filter((e) => e.outcome !== 'ok');
    expect(denied.map((e) => e.action).sort()).toEqual(['agent.deploy', 'agent.remove', 'agent.scale', 'agent.stop']);
  });

  it('its owner and an admin can', async () => {
    expect((await as('carol', '/v1/agents/vault/scale', { method: 'POST', body: { replicas: 2 } })).status).toBe(200);
    expect((await as('admin', '/v1/agents/vault/stop', { method: 'POST' })).status).toBe(200);
    expect((await as('carol', '/v1/agents', { method: 'POST', body: { manifest: vault.replace('replicas: 1', 'replicas: 3') } })).status).toBe(201);
    expect((await as('carol', '/v1/agents/vault', { method: 'DELETE' })).status).toBe(204);
  });

  it('once removed, the name is free for anyone', async () => {
    expect((await as('mallory', '/v1/agents', { method: 'POST', body: { manifest: vault } })).status).toBe(201);
    expect((await h.store.deployments.get('vault'))?.owner).toBe(tok.mallory.id);
  });
});
