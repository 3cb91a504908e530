import { describe, expect, it } from 'vitest';
import { mountClaimOps, mountDelegationOps, mountHumanOps, mountPullOps, RpcRouter, type Delegation, type HumanQuestions, type Store, type TaskClaims } from '@aiflock/core';
import { AGENT_OPS } from '@aiflock/protocol';
import { agentRpcOps } from '../src/rpc-ops.js';
import { registerWorldOps } from '../src/world/rpc-ops.js';
import type { WorldHost } from '../src/world/world-host.js';
import type { Perceiver } from '../src/world/perception.js';

// Mounting only registers handlers; nothing here is called, so the services are never reached.
const unused = {} as never;

describe('AGENT_OPS', () => {
  it('is exactly the set of ops the control plane serves agents on the bus', () => {
    const rpc = agentRpcOps({ store: {} as Store, log: () => undefined, llm: { gateway: null, detail: 'none' } as never, economy: { board: unused, compute: unused } as never, plane: { context: unused, memory: unused } });
    registerWorldOps(rpc, unused as WorldHost, unused as Perceiver);
    mountHumanOps(rpc, unused as HumanQuestions);
    mountDelegationOps(rpc, unused as Delegation);
    mountClaimOps(rpc, unused as TaskClaims);
    mountPullOps(rpc, { store: unused as Store, bus: {} });
    expect(rpc.mounted().sort()).toEqual(Object.keys(AGENT_OPS).sort());
  });

  it('a fresh router serves the stream cancel op from the catalogue', () => {
    expect(new RpcRouter({ store: {} as Store, log: () => undefined }).mounted()).toEqual(['stream.cancel']);
  });

  it("parses replies: a result that breaks the contract is refused, not passed on", () => {
    const move = AGENT_OPS['world.move'].output;
    expect(move.parse({ goal: { x: 1, y: 2 }, path: 3 })).toEqual({ goal: { x: 1, y: 2 }, path: 3 });
    expect(move.safeParse({ goal: 'home', path: 3 }).success).toBe(false);
    expect(AGENT_OPS['llm.stream'].chunk.safeParse({ type: 'delta' }).success).toBe(false);
  });
});
