import { describe, expect, it } from 'vitest';
import type { LlmUsageEvent, Store } from '@aiflock/core';

const call = (correlationId: string, ts: string, caller: string, tokensIn: number, tokensOut: number): LlmUsageEvent => ({
  correlationId,
  caller,
  agent: caller.startsWith('tok_') ? null : caller,
  instanceId: null,
  model: 'default',
  provider: 'ollama',
  providerModel: 'm',
  tokensIn,
  tokensOut,
  costAiDollars: 0.001234,
  latencyMs: 250,
  fallbackUsed: false,
  attempts: 1,
  outcome: 'ok',
  ts,
});

/** Recorded LLM calls: what the gateway's entitlement counters are rebuilt from after a restart. */
export function contract(open: () => Promise<Store>): void {
  describe('llm usage', () => {
    it('returns the calls since a time, oldest first, across a reopen', async () => {
      let store = await open();
      // Appended out of time order: writes are queued, but two processes' clocks and a slow
      // write can still interleave them.
      await store.llmUsage.append(call('c2', '2026-05-01T10:30:00.000Z', 'scout', 10, 5));
      await store.llmUsage.append(call('c1', '2026-05-01T09:59:59.999Z', 'scout', 1, 1));
      await store.llmUsage.append(call('c3', '2026-05-01T10:00:00.000Z', 'tok_0123456789abcdef', 7, 0));
      await store.llmUsage.append(call('c4', '2026-05-01T10:45:00.000Z', 'scout', 3, 4));
      await store.close();
      store = await open();
      const since = await store.llmUsage.since('2026-05-01T10:00:00.000Z', 100);
      expect(since.map((e) => e.correlationId)).toEqual(['c3', 'c2', 'c4']);
      expect(since[1]).toEqual(call('c2', '2026-05-01T10:30:00.000Z', 'scout', 10, 5));
      expect((await store.llmUsage.since('2026-05-01T10:00:00.000Z', 2)).map((e) => e.correlationId)).toEqual(['c3', 'c2']);
      expect(await store.llmUsage.since('2026-05-01T11:00:00.000Z', 100)).toEqual([]);
    });
  });
}
