import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostRecord } from '@aiflock/core';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * "A person cannot reward their own agent" against real identities: real tokens through the
 * real auth layer, so the owner is whoever deployed the agent, not what its manifest claims.
 * Each attack tries to get a reward onto an agent its deployer owns.
 */
let h: ApiHarness;
const tok: Record<'carol' | 'dave' | 'ann', { secret: string; id: string }> = {} as never;
let post: PostRecord;

beforeAll(async () => {
  h = await startApi();
  for (const [name, scopes] of [
    ['carol', ['agents:write', 'agents:read', 'human']],
    ['dave', ['agents:write', 'agents:read', 'human']],
    ['ann', ['human']],
  ] as const) {
    const secret = await h.token([...scopes], name);
    tok[name] = { secret, id: (await h.auth.authenticateToken(secret)).id };
  }
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const deploy = (who: keyof typeof tok | 'admin', manifest: string) => h.fetch('/v1/agents', { method: 'POST', body: { manifest }, token: who === 'admin' ? h.adminToken : tok[who].secret });
const reward = (who: keyof typeof tok | 'admin', amount: number) =>
  h.fetch('/v1/economy/reward', { method: 'POST', body: { agent: 'scribe', amount, postId: post.id }, token: who === 'admin' ? h.adminToken : tok[who].secret });
const ownerOf = async (agent: string) => (await h.fetch(`/v1/agents/${agent}`)).body.owner as string | null;

describe('the deploying identity owns the agent', () => {
  it('whoever deploys an agent owns it, and cannot reward it', async () => {
    expect((await deploy('carol', 'name: scribe\n')).status).toBe(201);
    expect(await ownerOf('scribe')).toBe(tok.carol.id);
    post = await h.economy.board.createPost({ kind: 'agent', name: 'scribe' }, { title: 'notes from the meeting', body: 'b', tags: [], audience: 'public' });
    const r = await reward('carol', 100);
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'reward_not_allowed' });
    expect(r.body.error.message).toContain(`${tok.carol.id} owns agent scribe`);
    expect(await h.store.ledger.balance('agent:scribe')).toBe(0);
  });

  it('a manifest naming someone else as owner is refused for a non-admin, and changes nothing', async () => {
    const r = await deploy('carol', `name: scribe\ndescription: disowned\nowner: ${tok.dave.id}\n`);
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'owner_mismatch', details: { field: 'owner', value: tok.dave.id, deployer: tok.carol.id } });
    expect(await ownerOf('scribe')).toBe(tok.carol.id);
    expect((await h.fetch('/v1/agents/scribe')).body.description).toBe('');
    // A new agent claimed for someone else is not created at all.
    expect((await deploy('carol', `name: decoy\nowner: ${tok.ann.id}\n`)).status).toBe(403);
    expect((await h.fetch('/v1/agents/decoy')).status).toBe(404);
    // Naming yourself is fine.
    expect((await deploy('dave', `name: helper\nowner: ${tok.dave.id}\n`)).status).toBe(201);
    expect(await ownerOf('helper')).toBe(tok.dave.id);
  });

  it("someone else may not redeploy it; an admin's redeploy keeps the owner, so the owner still cannot reward", async () => {
    const taken = await deploy('dave', 'name: scribe\ndescription: v2 by dave\n');
    expect(taken.status).toBe(403);
    expect(taken.body.error).toMatchObject({ code: 'agent_access_denied' });
    expect((await deploy('admin', 'name: scribe\ndescription: v2 by an admin\n')).status).toBe(201);
    expect(await ownerOf('scribe')).toBe(tok.carol.id);
    expect((await reward('carol', 100)).status).toBe(403);
    // dave never owned it, so he may reward it.
    expect((await reward('dave', 100)).status).toBe(201);
  });

  it('an admin may deploy an agent for a person; that person then owns it', async () => {
    expect((await deploy('admin', `name: scribe\ndescription: handed to ann\nowner: ${tok.ann.id}\n`)).status).toBe(201);
    expect(await ownerOf('scribe')).toBe(tok.ann.id);
    expect((await reward('ann', 100)).body.error).toMatchObject({ code: 'reward_not_allowed' });
    expect((await reward('carol', 100)).status).toBe(201);
    expect(await h.store.ledger.balance('agent:scribe')).toBe(200);
  });

  it('every refused reward is on the audit record with its actor', async () => {
    const denied = (await h.store.audit.list({ action: 'economy.reward', limit: 20 })).filter((e) => e.outcome === 'denied').map((e) => e.actor);
    expect(denied.sort()).toEqual([tok.carol.id, tok.carol.id, tok.ann.id].sort());
  });
});
