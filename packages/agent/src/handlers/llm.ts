import * as z from 'zod';
import { LlmParams } from '@aiflock/protocol';
import { HandlerError, type HandlerOutput, type TaskContext } from '../sdk.js';

export const LlmTaskInput = z
  .object({
    prompt: z.string().min(1),
    /** Without it, the gateway uses this agent's manifest `model`, else `default`. */
    model: z.string().min(1).optional(),
    system: z.string().optional(),
    params: LlmParams.default({}),
    /** Where the gateway may run it, for this request only: `local`, `cloud`, or provider names (its `policyOverride`). */
    policy: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  })
  .strict();

/**
 * Completes a prompt through the control plane's gateway and returns the text (the output
 * carries model, provider, usage and cost). Tokens are streamed, so a cancel stops the call.
 */
export async function llm(ctx: TaskContext): Promise<HandlerOutput> {
  const parsed = LlmTaskInput.safeParse(typeof ctx.input === 'string' ? { prompt: ctx.input } : ctx.input);
  if (!parsed.success) {
    throw new HandlerError(`invalid llm task input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const { prompt, model, system, params, policy } = parsed.data;
  const common = { model, params, ...(policy ? { policyOverride: policy } : {}) };
  const request = system ? { ...common, messages: [{ role: 'system' as const, content: system }, { role: 'user' as const, content: prompt }] } : { ...common, prompt };
  const stream = ctx.llm.stream(request, { signal: ctx.signal });
  let text = '';
  for await (const chunk of stream) if (chunk.type === 'delta') text += chunk.text;
  const result = await stream.result;
  ctx.log.info(`llm ${result.model} answered via ${result.provider}: ${result.usage.tokensIn} tokens in, ${result.usage.tokensOut} out`);
  return { result: text, output: { model: result.model, provider: result.provider, finishReason: result.finishReason, usage: result.usage, costAiDollars: result.costAiDollars, correlationId: result.correlationId, toolCalls: result.toolCalls } };
}
