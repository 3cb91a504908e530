import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '@aiflock/core';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { LlmConfigSchema } from '../../src/llm/config.js';
import { createLlmMetrics } from '../../src/llm/metrics.js';
import { setupLlm } from '../../src/llm/setup.js';
import { persistUsage, restoreCounters } from '../../src/llm/usage-store.js';

/**
 * Entitlement counters survive a daemon restart: the second "daemon" (a new gateway on the
 * same SQLite file, reopened) starts from the calls the first one recorded, as daemon.ts
 * does, instead of a fresh minute and hour.
 */
const CALLER = 'tok_00000000000000aa';
let dir: string;
let ol: FakeLlmServer;

const config = () =>
  LlmConfigSchema.parse({
    providers: { ollama: { url: ol.url } },
    models: { default: { provider: 'ollama', model: 'm' } },
    entitlements: { callers: { [CALLER]: { requestsPerMinute: 3, tokensPerHour: 1_000 } } },
    policy: { attemptsPerProvider: 1 },
  });

async function daemon() {
  const store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  const llm = await setupLlm(config(), { clock: systemClock, log: () => undefined, metrics: createLlmMetrics(new Registry()) });
  const restored = await restoreCounters(llm.gateway!, store, systemClock);
  const rows = persistUsage(llm.usage, store, () => undefined);
  return {
    gateway: llm.gateway!,
    restored,
    chat: (content: string) => llm.gateway!.chat({ model: 'default', messages: [{ role: 'user', content }], maxTokens: 10 }, { id: CALLER }),
    stop: async () => {
      rows.stop();
      await rows.flush();
      await llm.close();
      await store.close();
    },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-counters-'));
  ol = await startFakeLlm('ollama');
  ol.setDefault({ kind: 'reply', text: 'ok', usage: { in: 100, out: 50 } });
});

afterAll(async () => {
  await ol?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('entitlement counters across a restart', () => {
  it('requests/min and tokens/hour used before a restart still count after it', async () => {
    const first = await daemon();
    expect(first.restored).toBe(0);
    await first.chat('one');
    await first.chat('two');
    expect(first.gateway.limiter.usage(CALLER)).toMatchObject({ requestsLastMinute: 2, tokensLastHour: 300 });
    await first.stop();

    const second = await daemon();
    expect(second.restored).toBe(2);
    expect(second.gateway.limiter.usage(CALLER)).toMatchObject({ requestsLastMinute: 2, tokensLastHour: 300, inFlight: 0 });
    await second.chat('three');
    // A fresh counter would allow three more; the restored one allows none.
    await expect(second.chat('four')).rejects.toMatchObject({ code: 'quota_exceeded', details: { limit: 'requests_per_minute' } });
    await second.stop();

    // And again: the refusal holds through a second restart, and the hour's tokens are all there.
    const third = await daemon();
    expect(third.gateway.limiter.usage(CALLER)).toMatchObject({ requestsLastMinute: 3, tokensLastHour: 450 });
    await expect(third.chat('five')).rejects.toMatchObject({ code: 'quota_exceeded' });
    await third.stop();
  });
});
