import { LlmError } from '@aiflock/agent';
import { systemClock } from '@aiflock/core';
import { Registry } from 'prom-client';
import { expect } from 'vitest';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { LlmConfigSchema } from '../../src/llm/config.js';
import type { TierSource } from '../../src/llm/economy-bridge.js';
import { createLlmMetrics } from '../../src/llm/metrics.js';
import { registerLlmOps } from '../../src/llm/rpc-ops.js';
import { setupLlm, type LlmSetup } from '../../src/llm/setup.js';
import { startBusHarness, type BusHarness, type BusHarnessOptions } from '../bus-harness.js';

/**
 * Agents' LLM calls as the daemon serves them: the bus harness with the gateway's RPC ops
 * mounted, and a provider speaking Ollama's wire protocol that the test scripts.
 */
export interface GatewayOverBusOptions extends Pick<BusHarnessOptions, 'name' | 'instances' | 'trust'> {
  /** The raw `llm` config; `ol` is the scripted provider's URL to point a provider at. */
  llm: (ol: FakeLlmServer) => unknown;
  /** Where agents' entitlements come from when they are the economy's compute tiers. */
  tiers?: (store: SqlStore, dir: string) => TierSource;
  /** Correlation ids the ops stamp on calls are this, a dash and a count; `corr` unless given. */
  correlationPrefix?: string;
}

export interface GatewayOverBus extends BusHarness {
  ol: FakeLlmServer;
  llm: LlmSetup;
}

export async function startGatewayOverBus(o: GatewayOverBusOptions): Promise<GatewayOverBus> {
  let ol: FakeLlmServer | undefined;
  let llm: LlmSetup | undefined;
  const h = await startBusHarness({
    name: o.name,
    instances: o.instances,
    ...(o.trust ? { trust: true } : {}),
    async mount({ dir, store, router, closeAfterBus }) {
      const tiers = o.tiers?.(store, dir);
      const provider = await startFakeLlm('ollama');
      ol = provider;
      closeAfterBus(() => provider.close());
      const setup = await setupLlm(LlmConfigSchema.parse(o.llm(provider)), {
        clock: systemClock,
        log: () => undefined,
        metrics: createLlmMetrics(new Registry()),
        ...(tiers ? { tiers } : {}),
      });
      llm = setup;
      closeAfterBus(() => setup.close());
      let n = 0;
      registerLlmOps(router, setup, store, () => `${o.correlationPrefix ?? 'corr'}-${++n}`);
    },
  });
  return Object.assign(h, { ol: ol!, llm: llm! });
}

/** The error an LLM call over the bus is refused with, failing the test if it was not refused. */
export async function llmRefusal(p: Promise<unknown>): Promise<LlmError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LlmError);
  return e as LlmError;
}
