import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lazyPostgresStores } from './pg-store.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * A reused agent name inherits nothing (finding 7 of the attack review): after `agent remove`,
 * another owner deploying the same name gets no balance, no workspace files and no logs of
 * the old agent. Removal archives them (the default) or deletes them (`agents.onRemove`).
 * Real tokens, a real ledger and real files; the archive case on PostgreSQL too.
 */
const pg = lazyPostgresStores('reuse');
afterAll(async () => {
  await pg.stop();
});

const cases: [string, 'archive' | 'delete', boolean][] = [
  ['archive on sqlite', 'archive', false],
  ['delete on sqlite', 'delete', false],
  ['archive on postgres', 'archive', true],
];

describe.each(cases)('agent remove, then someone else deploys the name (%s)', (_label, mode, postgres) => {
  let h: ApiHarness;
  const tok = {} as Record<'carol' | 'dave', string>;

  beforeAll(async () => {
    h = await startApi(
      {},
      {
        onRemove: mode,
        ...(postgres ? { store: () => pg.open() } : {}),
      },
    );
    tok.carol = await h.token(['agents:write', 'human'], 'carol');
    tok.dave = await h.token(['agents:write', 'human'], 'dave');
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('the new owner starts with no balance, no files and no logs; the old ones are archived or deleted', async () => {
    expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest: 'name: scribe\n' }, token: tok.carol })).status).toBe(201);
    expect((await h.fetch('/v1/economy/credit', { method: 'POST', body: { agent: 'scribe', amount: 50_000, paymentTxnId: `PAY-${mode}-1` } })).status).toBe(201);
    // What the first scribe's sandbox wrote and logged.
    const workspace = join(h.dir, 'shared', 'agents', 'scribe');
    mkdirSync(workspace, { recursive: true });
    writeFileSync(join(workspace, 'notes.txt'), 'carol’s private notes');
    await h.store.logs.append([{ ts: new Date().toISOString(), level: 'info', msg: 'carol’s customer list: …', agent: 'scribe', instanceId: 'scribe-aaaa1111', taskId: null }]);

    expect((await h.fetch('/v1/agents/scribe', { method: 'DELETE', token: tok.carol })).status).toBe(204);
    expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest: 'name: scribe\n' }, token: tok.dave })).status).toBe(201);

    const dave = (await h.auth.authenticateToken(tok.dave)).id;
    expect((await h.fetch('/v1/agents/scribe')).body.owner).toBe(dave);
    expect(await h.store.ledger.balance('agent:scribe')).toBe(0);
    expect((await h.fetch('/v1/agents/scribe/logs', { token: tok.dave })).body.lines).toEqual([]);
    expect(existsSync(join(workspace, 'notes.txt'))).toBe(false);

    const archive = join(h.dir, 'shared', 'archive');
    if (mode === 'archive') {
      const [kept] = readdirSync(archive);
      expect(kept).toMatch(/^scribe@\d{8}T\d{9}Z$/);
      expect(readFileSync(join(archive, kept!, 'notes.txt'), 'utf8')).toBe('carol’s private notes');
      expect(await h.store.ledger.balance(`archive:${kept}`)).toBe(50_000);
      expect((await h.store.logs.list({ agent: kept!, limit: 10 })).map((l) => l.msg)).toEqual(['carol’s customer list: …']);
    } else {
      expect(existsSync(archive)).toBe(false);
      expect(await h.store.ledger.balance('system:mint')).toBe(0);
      const everything = await h.store.logs.list({ limit: 10_000 });
      expect(everything.some((l) => l.msg.includes('customer list'))).toBe(false);
    }
    // The books still balance, and the audit chain holds.
    expect(((await h.fetch('/v1/economy/verify')).body as { ok: boolean }).ok).toBe(true);
  });
});
