import * as z from 'zod';
import { LlmMessage, LlmParams, PolicyOverride } from './llm.js';
import { TaskId } from './names.js';

/**
 * Agents' requests to the control plane over the bus: an instance publishes on
 * `agent.<instanceId>.rpc.<service>.<op>` (see `subjects.rpc`) with a reply subject of its own,
 * `replies.<instanceId>.<token>`, also named in the RPC_REPLY_HEADER. The caller's identity is the `<instanceId>` of the subject, which the
 * server's permissions enforce; payloads never carry identity.
 *
 * Unary ops answer once with an `RpcReply`. Streaming ops answer on the same reply subject
 * with `RpcFrame`s numbered from 0: `chunk` frames, then exactly one `end` frame that carries
 * an `RpcReply` (the final result, or the error that ended the stream). An error before any
 * chunk comes as the `end` frame with seq 0. To stop a stream early (a cancelled task, a
 * reader that lost interest), the caller sends `stream.cancel {inbox}` naming the reply
 * subject it used; only the instance that started a stream can cancel it.
 */

export const RpcErrorBody = z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() });
export type RpcErrorBody = z.infer<typeof RpcErrorBody>;

export const RpcReply = z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), result: z.unknown() }), z.object({ ok: z.literal(false), error: RpcErrorBody })]);
export type RpcReply = z.infer<typeof RpcReply>;

export const RpcFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chunk'), seq: z.number().int().min(0), chunk: z.unknown() }),
  z.object({ type: z.literal('end'), seq: z.number().int().min(0), reply: RpcReply }),
]);
export type RpcFrame = z.infer<typeof RpcFrame>;

// The ops themselves, with their inputs and results, are catalogued in `agent-ops.ts` (AGENT_OPS).

/**
 * The header a streaming request names itself with: the reply subject the caller chose, which
 * `stream.cancel {inbox}` names later. The control plane cannot read it off the request,
 * because across the bus's account boundary the server hands it a reply route of its own.
 */
export const RPC_STREAM_HEADER = 'aiflock-stream';

// The header a request names its answer's subject with, RPC_REPLY_HEADER, is in subjects.ts,
// which the agent runtime's idle path reads without loading zod.

/**
 * `llm.chat` / `llm.stream`: a prompt (one user message) or messages, never both. Without
 * `model`, the agent's manifest `model` (name, provider, fallbacks) applies, else `default`.
 */
export const LlmChatRpc = z
  .object({
    model: z.string().min(1).optional(),
    prompt: z.string().min(1).optional(),
    messages: z.array(LlmMessage).min(1).optional(),
    params: LlmParams.default({}),
    policyOverride: PolicyOverride.optional(),
    /**
     * The task the call is for. A task another agent delegated is paid for by the agent
     * at the top of its chain, so the runtime names the task on every call it makes.
     */
    taskId: TaskId.optional(),
  })
  .strict()
  .refine((v) => (v.prompt === undefined) !== (v.messages === undefined), { message: 'give either prompt or messages' });
export type LlmChatRpc = z.input<typeof LlmChatRpc>;

export const LlmStreamChunk = z.discriminatedUnion('type', [
  z.object({ type: z.literal('delta'), text: z.string() }),
  z.object({ type: z.literal('tool_call'), call: z.object({ id: z.string(), name: z.string(), arguments: z.record(z.string(), z.unknown()) }) }),
]);
export type LlmStreamChunk = z.infer<typeof LlmStreamChunk>;

/** What an agent gets back: no provider addresses or keys, only which deployment answered. */
export const LlmChatResult = z.object({
  text: z.string(),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.record(z.string(), z.unknown()) })),
  model: z.string(),
  provider: z.string(),
  finishReason: z.string(),
  usage: z.object({ tokensIn: z.number().int(), tokensOut: z.number().int() }),
  costAiDollars: z.number(),
  correlationId: z.string(),
});
export type LlmChatResult = z.infer<typeof LlmChatResult>;
