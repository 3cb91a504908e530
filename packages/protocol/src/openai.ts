import * as z from 'zod';

/**
 * The OpenAI-compatible routes' wire shapes (`/v1/chat/completions`, `/v1/embeddings`,
 * `/v1/models`, `/v1/responses`), as the official `openai` client sends and reads them. Only
 * what the gateway can honour is accepted; unknown fields that clients commonly send pass.
 */

/** A function tool's JSON Schema; a tool without one takes no arguments. */
export const FunctionParameters = z.record(z.string(), z.unknown()).nullish();

export const OaContent = z.union([z.string(), z.null(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]);
export const OaToolCall = z.object({ id: z.string(), type: z.literal('function').default('function'), function: z.object({ name: z.string(), arguments: z.string() }) });
export const OaMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: OaContent.optional(),
  tool_calls: z.array(OaToolCall).optional(),
  tool_call_id: z.string().optional(),
  name: z.string().optional(),
});

export const ChatCompletionRequest = z
  .object({
    model: z.string().min(1),
    messages: z.array(OaMessage).min(1),
    tools: z.array(z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: FunctionParameters }) })).optional(),
    response_format: z
      .union([z.object({ type: z.literal('text') }), z.object({ type: z.literal('json_object') }), z.object({ type: z.literal('json_schema'), json_schema: z.object({ name: z.string(), schema: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullish() }) })])
      .optional(),
    max_tokens: z.number().int().min(1).nullish(),
    max_completion_tokens: z.number().int().min(1).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
    n: z.literal(1, { message: 'only n=1 is supported' }).nullish(),
  })
  .passthrough();
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

const OaUsage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });

/** A whole (not streamed) chat completion. */
export const ChatCompletion = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({ role: z.literal('assistant'), content: z.string().nullable(), refusal: z.null(), tool_calls: z.array(OaToolCall.extend({ type: z.literal('function') })).optional() }),
      logprobs: z.null(),
      finish_reason: z.string(),
    }),
  ),
  usage: OaUsage,
  system_fingerprint: z.null(),
});
export type ChatCompletion = z.infer<typeof ChatCompletion>;

export const EmbeddingsRequest = z
  .object({ model: z.string().min(1), input: z.union([z.string(), z.array(z.string()).min(1)]), encoding_format: z.enum(['float', 'base64']).default('float') })
  .passthrough();
/** Vectors as numbers, or little-endian float32 in base64 when `encoding_format` is `base64`. */
export const EmbeddingsResponse = z.object({
  object: z.literal('list'),
  model: z.string(),
  data: z.array(z.object({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) })),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});

export const ModelParams = z.object({ model: z.string() });
export const OaModel = z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() });
export const OaModelList = z.object({
  object: z.literal('list'),
  data: z.array(OaModel.extend({ capabilities: z.array(z.string()), context_window: z.number().int().nullable().optional() })),
});
