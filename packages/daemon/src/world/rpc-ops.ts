import { z } from 'zod';
import { ActionRequest, DeclarePolicy, MoveRequest } from '@aiflock/protocol';
import type { RpcRouter } from '@aiflock/core';
import type { Perceiver } from './perception.js';
import type { WorldHost } from './world-host.js';

/**
 * `agent.<id>.rpc.world.<op>`: the villager is always the caller's own agent (from the
 * subject, through the router), so no payload field can name another.
 */
export function registerWorldOps(rpc: RpcRouter, host: WorldHost, perceiver: Perceiver): void {
  rpc.unary('world', 'perceive', z.object({}).strict(), (c) => perceiver.perceive(c.agent));
  rpc.unary('world', 'move', MoveRequest, (c, move) => host.submit({ kind: 'move', name: c.agent, move }));
  rpc.unary('world', 'act', ActionRequest, async (c, action) => host.submit({ kind: 'act', name: c.agent, action }));
  rpc.unary('world', 'declare', DeclarePolicy, async (c, d) => host.submit({ kind: 'declare', name: c.agent, policy: d.policy, model: d.model }));
}
