import { randomUUID } from 'node:crypto';
import { RpcRouter, mountBoardOps, mountEconomyOps, mountMemoryOps, type Store } from '@aiflock/core';
import type { ContextPlane } from './context-plane.js';
import type { ApiContext } from './http/context.js';
import { registerLlmOps } from './llm/rpc-ops.js';
import type { LlmSetup } from './llm/setup.js';
import type { logFn } from './logger.js';

/**
 * The agents' RPC table: model calls, the board, the economy, memory and context. The world
 * mounts its own ops on the returned router before the bus starts serving it.
 */
export function agentRpcOps(deps: {
  store: Store;
  log: ReturnType<typeof logFn>;
  llm: LlmSetup;
  economy: ApiContext['economy'];
  plane: Pick<ContextPlane, 'context' | 'memory'>;
}): RpcRouter {
  const { store, economy } = deps;
  const rpc = new RpcRouter({ store, log: deps.log });
  registerLlmOps(rpc, deps.llm, store, randomUUID);
  // Every op from the catalogue (`AGENT_OPS`) by `rpc.op`: its input parsed from there, its
  // result typed against it; the caller is always the instance the subject names.
  mountBoardOps(rpc, economy.board);
  mountEconomyOps(rpc, economy.compute);
  mountMemoryOps(rpc, deps.plane);
  return rpc;
}
