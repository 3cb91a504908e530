import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLAIM_SIGNAL, waitForClaim } from '../src/warm-claim.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-warm-claim-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** As the daemon writes it (warm-slots.ts): whole, then renamed into place. */
async function claim(env: Record<string, string>): Promise<void> {
  await writeFile(join(dir, '.identity.json.tmp'), JSON.stringify({ env }));
  await rename(join(dir, '.identity.json.tmp'), join(dir, 'identity.json'));
}

describe('waitForClaim', () => {
  it('prepares first, then takes the identity that appears, dropping every warm variable', async () => {
    const env: NodeJS.ProcessEnv = { AIFLOCK_WARM_IDENTITY: join(dir, 'identity.json'), AIFLOCK_HEARTBEAT_MS: '60000', AIFLOCK_LIVENESS_FILE: join(dir, 'alive'), PATH: '/bin' };
    const order: string[] = [];
    const waiting = waitForClaim(env, (line) => order.push(line), { prepare: async () => void order.push('prepared') });
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual(['prepared', 'warm: waiting to be claimed']);
    await claim({ AIFLOCK_INSTANCE_ID: 'quick-abcd1234', AIFLOCK_AGENT: 'quick' });
    await expect(waiting).resolves.toBe(true);
    expect(env).toEqual({ AIFLOCK_INSTANCE_ID: 'quick-abcd1234', AIFLOCK_AGENT: 'quick', PATH: '/bin' });
    expect(order.at(-1)).toBe('warm: claimed as quick-abcd1234');
  });

  it('a claim signal before any identity changes nothing and is not fatal; the claim then wakes it', async () => {
    const env: NodeJS.ProcessEnv = { AIFLOCK_WARM_IDENTITY: join(dir, 'identity.json'), AIFLOCK_HEARTBEAT_MS: '60000' };
    let done = false;
    const waiting = waitForClaim(env, () => undefined).then((v) => ((done = true), v));
    await new Promise((r) => setTimeout(r, 50));
    process.kill(process.pid, CLAIM_SIGNAL);
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    // The daemon writes the file, then signals: whichever of the notice and the signal comes first wakes it.
    await claim({ AIFLOCK_INSTANCE_ID: 'quick-efgh5678' });
    process.kill(process.pid, CLAIM_SIGNAL);
    await expect(waiting).resolves.toBe(true);
    expect(env['AIFLOCK_INSTANCE_ID']).toBe('quick-efgh5678');
    // The handler is gone afterwards (the signal is ignored again, as by default).
    expect(process.listeners(CLAIM_SIGNAL)).toEqual([]);
  });

  it('returns at once, changing nothing, outside a warm sandbox', async () => {
    const env: NodeJS.ProcessEnv = { AIFLOCK_INSTANCE_ID: 'quick-abcd1234' };
    await expect(waitForClaim(env, () => undefined, { prepare: () => Promise.reject(new Error('not called')) })).resolves.toBe(false);
    expect(env).toEqual({ AIFLOCK_INSTANCE_ID: 'quick-abcd1234' });
  });
});
