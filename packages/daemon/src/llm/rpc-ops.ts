import { FlockError, type GatewayChatRequest, type LlmGateway, type RpcCaller, type RpcRouter } from '@aiflock/core';
import { LlmChatRpc, RPC, type LlmChatResult } from '@aiflock/protocol';
import { z } from 'zod';

type ChatInput = z.output<typeof LlmChatRpc>;

function toRequest(input: ChatInput, caller: RpcCaller, correlationId: string): GatewayChatRequest {
  return {
    model: input.model,
    messages: input.messages ?? [{ role: 'user', content: input.prompt! }],
    ...input.params,
    policy: input.policyOverride,
    correlationId,
  };
}

/** The agent as the gateway sees it: entitlements and usage are per agent (deployment). */
const asLlmCaller = (c: RpcCaller) => ({ id: c.agent, agent: c.agent, instanceId: c.instanceId });

/** `agent.<id>.rpc.llm.*`: agents reach models only through here, never with a key of their own. */
export function registerLlmOps(router: RpcRouter, llm: { gateway: LlmGateway | null; detail: string }, newId: () => string): void {
  const gateway = () => {
    if (!llm.gateway) throw new FlockError('llm_unavailable', llm.detail);
    return llm.gateway;
  };

  router.unary('llm', RPC.llm.chat, LlmChatRpc, async (caller, input): Promise<LlmChatResult> => {
    const r = await gateway().chat(toRequest(input, caller, newId()), asLlmCaller(caller));
    return { text: r.content, toolCalls: r.toolCalls, model: input.model, provider: r.provider, finishReason: r.finishReason, usage: r.usage, costAiDollars: r.costAiDollars, correlationId: r.correlationId };
  });

  router.streaming('llm', RPC.llm.stream, LlmChatRpc, async function* (caller, input) {
    let text = '';
    const toolCalls: LlmChatResult['toolCalls'] = [];
    for await (const c of gateway().chatStream(toRequest(input, caller, newId()), asLlmCaller(caller))) {
      if (c.type === 'delta') {
        text += c.text;
        yield { chunk: c };
      } else if (c.type === 'tool_call') {
        toolCalls.push(c.call);
        yield { chunk: c };
      } else {
        const result: LlmChatResult = { text, toolCalls, model: input.model, provider: c.provider, finishReason: c.finishReason, usage: c.usage, costAiDollars: c.costAiDollars, correlationId: c.correlationId };
        yield { result };
      }
    }
  });

  router.unary('llm', RPC.llm.models, z.object({}).strict().optional(), async (caller) => ({
    models: llm.gateway ? llm.gateway.models(asLlmCaller(caller)).map((m) => m.name) : [],
  }));
}
