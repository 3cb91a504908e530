import { FlockError, payingAgent, type GatewayChatRequest, type LlmGateway, type RpcCaller, type RpcRouter, type Store } from '@aiflock/core';
import { AGENT_OPS, type LlmChatResult, type LlmChatRpc } from '@aiflock/protocol';
import type { z } from 'zod';

type ChatInput = z.output<typeof LlmChatRpc>;

/**
 * The agent's policy layer: a request without a model uses the agent's manifest `model`
 * (its name, preferred provider and fallbacks); the request's own choices win.
 */
async function toRequest(store: Store, input: ChatInput, caller: RpcCaller, correlationId: string): Promise<GatewayChatRequest> {
  const preferred = input.model === undefined ? (await store.deployments.get(caller.agent))?.manifest.model : undefined;
  return {
    model: input.model ?? preferred?.name ?? 'default',
    messages: input.messages ?? [{ role: 'user', content: input.prompt! }],
    ...input.params,
    // A preferred provider goes first; the others stay available, local before cloud.
    policy: input.policyOverride ?? (preferred?.provider ? [preferred.provider, 'local', 'cloud'] : undefined),
    fallbacks: preferred?.fallbacks,
    correlationId,
  };
}

/**
 * The agent as the gateway sees it: entitlements and usage are per agent (deployment). A call
 * for a task another agent delegated is that agent's: its tier applies and it is charged.
 */
async function asLlmCaller(store: Store, c: RpcCaller, taskId?: string) {
  const payer = await payingAgent(store, c, taskId);
  return { id: payer, agent: payer, instanceId: c.instanceId };
}

/** `agent.<id>.rpc.llm.*`: agents reach models only through here, never with a key of their own. */
export function registerLlmOps(router: RpcRouter, llm: { gateway: LlmGateway | null; detail: string }, store: Store, newId: () => string): void {
  const gateway = () => {
    if (!llm.gateway) throw new FlockError('llm_unavailable', llm.detail);
    return llm.gateway;
  };

  router.op('llm.chat', async (caller, input) => {
    const request = await toRequest(store, input, caller, newId());
    const r = await gateway().chat(request, await asLlmCaller(store, caller, input.taskId));
    return { text: r.content, toolCalls: r.toolCalls, model: request.model, provider: r.provider, finishReason: r.finishReason, usage: r.usage, costAiDollars: r.costAiDollars, correlationId: r.correlationId };
  });

  router.streaming('llm', 'stream', AGENT_OPS['llm.stream'].input, async function* (caller, input, signal) {
    let text = '';
    const toolCalls: LlmChatResult['toolCalls'] = [];
    const request = { ...(await toRequest(store, input, caller, newId())), signal };
    for await (const c of gateway().chatStream(request, await asLlmCaller(store, caller, input.taskId))) {
      if (c.type === 'delta') {
        text += c.text;
        yield { chunk: c };
      } else if (c.type === 'tool_call') {
        toolCalls.push(c.call);
        yield { chunk: c };
      } else {
        const result: LlmChatResult = { text, toolCalls, model: request.model, provider: c.provider, finishReason: c.finishReason, usage: c.usage, costAiDollars: c.costAiDollars, correlationId: c.correlationId };
        yield { result };
      }
    }
  });

  router.op('llm.models', async (caller) => ({
    models: llm.gateway ? (await llm.gateway.models(await asLlmCaller(store, caller))).map((m) => m.name) : [],
  }));
}
