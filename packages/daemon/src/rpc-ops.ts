import { randomUUID } from 'node:crypto';
import { RpcRouter, boardRpcHandlers, economyRpcHandlers, type RpcOp, type Store } from '@aiflock/core';
import { mountContextOps, type ContextPlane } from './context-plane.js';
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
  // Board and economy for agents: the caller is always the instance the subject names.
  const ops: Record<string, RpcOp> = { ...boardRpcHandlers(economy.board), ...economyRpcHandlers(economy.compute) } as Record<string, RpcOp>;
  for (const [name, op] of Object.entries(ops)) {
    const [service, operation] = name.split('.') as [string, string];
    rpc.unary(service, operation, op.input, (caller, input) => op.handle(caller, input));
  }
  // Memory and context for agents: each handler validates its own input and scopes to the caller.
  mountContextOps(rpc, deps.plane);
  return rpc;
}
