import { FlockError, RpcRouter, type ErrorCode, type Store } from '@aiflock/core';
import { AGENT_OPS, opParts, RpcReply, type AgentOp, type AgentOpOutput } from '@aiflock/protocol';

export interface OpCallerIdentity {
  instanceId: string;
  agent: string;
}

/**
 * Call bus ops through a real `RpcRouter` without a bus: what `mount` registers is reached as
 * an agent's instance reaches it (the router resolves the caller's agent, parses the input by
 * the catalogue `AGENT_OPS`, answers with a reply), the reply goes through JSON as on the
 * wire and its result is parsed by the catalogue as the agent's clients parse it. A refusal
 * is thrown as the FlockError it carries.
 */
export function opCaller(mount: (rpc: RpcRouter) => void) {
  const running = new Map<string, string>();
  // The router asks the store only whether the instance runs and for which agent.
  const store = { instances: { get: async (id: string) => (running.has(id) ? { id, agent: running.get(id), status: 'running' } : undefined) } } as unknown as Store;
  const rpc = new RpcRouter({ store, log: () => undefined });
  mount(rpc);
  return async <K extends AgentOp>(caller: OpCallerIdentity, name: K, input: unknown): Promise<AgentOpOutput<K>> => {
    running.set(caller.instanceId, caller.agent);
    const [service, op] = opParts(name);
    const answer = await new Promise<unknown>((resolve) => void rpc.handle({ instanceId: caller.instanceId, service, op, payload: input, reply: `_INBOX.${service}.${op}`, respond: resolve }));
    const reply = RpcReply.parse(JSON.parse(JSON.stringify(answer)));
    if (!reply.ok) throw new FlockError(reply.error.code as ErrorCode, reply.error.message, reply.error.details);
    return AGENT_OPS[name].output.parse(reply.result) as AgentOpOutput<K>;
  };
}
