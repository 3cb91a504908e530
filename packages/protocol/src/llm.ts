import * as z from 'zod';

/**
 * LLM wire shapes shared by `POST /v1/llm/infer` and the agents' bus RPC (`llm.chat`). Model
 * names are registry names or aliases (`default`, `fast`, `coder`, `embed`); providers and
 * their keys never appear here.
 */

const JsonObject = z.record(z.string(), z.unknown());

export const LlmToolCall = z.object({ id: z.string(), name: z.string().min(1), arguments: JsonObject });
export type LlmToolCall = z.infer<typeof LlmToolCall>;

export const LlmMessage = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string().max(1_000_000),
    toolCalls: z.array(LlmToolCall).optional(),
    toolCallId: z.string().optional(),
  })
  .strict();
export type LlmMessage = z.infer<typeof LlmMessage>;

export const LlmTool = z.object({ name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), description: z.string().max(4000).optional(), parameters: JsonObject }).strict();

/** `json`: any JSON object; `{schema}`: output valid against that JSON Schema. */
export const LlmFormat = z.union([z.literal('json'), z.object({ schema: JsonObject }).strict()]);

export const LlmParams = z
  .object({
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
    stop: z.array(z.string()).max(8).optional(),
    format: LlmFormat.optional(),
    tools: z.array(LlmTool).max(128).optional(),
  })
  .strict();
export type LlmParams = z.infer<typeof LlmParams>;

/** Seed 3's policy override: `"local"`, `"cloud"`, `"local,cloud"`, provider names, or a list. */
export const PolicyOverride = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : v.split(',').map((s) => s.trim()).filter(Boolean)));

/** `POST /v1/llm/infer` (the gateway's native route): `{model, input, params, policyOverride?}`. */
export const LlmInferRequest = z
  .object({
    model: z.string().min(1).default('default'),
    input: z.union([z.string().min(1), z.array(LlmMessage).min(1)]),
    params: LlmParams.default({}),
    policyOverride: PolicyOverride.optional(),
    /** Stream tokens as server-sent events (also chosen by `Accept: text/event-stream`). */
    stream: z.boolean().default(false),
  })
  .strict();
export type LlmInferRequest = z.input<typeof LlmInferRequest>;

export const LlmUsage = z.object({ tokensIn: z.number().int(), tokensOut: z.number().int() });

export const LlmInferResult = z.object({
  output: z.string(),
  toolCalls: z.array(LlmToolCall),
  model: z.string(),
  provider: z.string(),
  finishReason: z.enum(['stop', 'length', 'tool_calls', 'content_filter']),
  usage: LlmUsage,
  costAiDollars: z.number(),
  correlationId: z.string(),
  fallbackUsed: z.boolean(),
});
export type LlmInferResult = z.infer<typeof LlmInferResult>;
