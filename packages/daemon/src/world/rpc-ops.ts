import type { MoveOutcome } from '@aiflock/protocol';
import type { RpcRouter } from '@aiflock/core';
import type { Perceiver } from './perception.js';
import type { WorldHost } from './world-host.js';

/**
 * `agent.<id>.rpc.world.<op>`: the villager is always the caller's own agent (from the
 * subject, through the router), so no payload field can name another.
 */
export function registerWorldOps(rpc: RpcRouter, host: WorldHost, perceiver: Perceiver): void {
  rpc.op('world.perceive', (c) => perceiver.perceive(c.agent));
  rpc.op('world.move', async (c, move) => (await host.submit({ kind: 'move', name: c.agent, move })) as MoveOutcome);
  rpc.op('world.act', async (c, action) => (await host.submit({ kind: 'act', name: c.agent, action })) as { ok: true });
  rpc.op('world.declare', async (c, d) => (await host.submit({ kind: 'declare', name: c.agent, policy: d.policy, model: d.model })) as { ok: true });
}
