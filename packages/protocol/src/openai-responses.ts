import * as z from 'zod';
import { FunctionParameters } from './openai.js';

/**
 * OpenAI's Responses API (`POST /v1/responses`) as the official `openai` client and the
 * Vercel AI SDK's default provider send and read it. Text, message and function-call items,
 * instructions, function tools, JSON output and streaming are taken; hosted tools and
 * non-text inputs are refused by name.
 */

const TextPart = z.object({ type: z.enum(['input_text', 'output_text']), text: z.string() }).passthrough();
const RefusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() }).passthrough();
const Part = z.union([TextPart, RefusalPart, z.object({ type: z.string() }).passthrough()]);
export const ResponsesContent = z.union([z.string(), z.array(Part)]);
export type ResponsesContent = z.infer<typeof ResponsesContent>;

const MessageItem = z.object({ type: z.literal('message'), role: z.enum(['user', 'assistant', 'system', 'developer']), content: ResponsesContent }).passthrough();
const FunctionCallItem = z.object({ type: z.literal('function_call'), call_id: z.string().min(1), name: z.string().min(1), arguments: z.string() }).passthrough();
const FunctionCallOutputItem = z.object({ type: z.literal('function_call_output'), call_id: z.string().min(1), output: ResponsesContent }).passthrough();
const ItemReference = z.object({ type: z.literal('item_reference'), id: z.string().min(1) }).passthrough();
/** Reasoning items come back only from models that emit them; the gateway's do not, and they carry no text to resend. */
const ReasoningItem = z.object({ type: z.literal('reasoning') }).passthrough();
export const ResponsesItem = z.preprocess(
  // A message may leave out its type (`{role, content}`), as OpenAI accepts.
  (v) => (v && typeof v === 'object' && !('type' in v) && 'role' in v ? { ...v, type: 'message' } : v),
  z.discriminatedUnion('type', [MessageItem, FunctionCallItem, FunctionCallOutputItem, ItemReference, ReasoningItem], {
    error: 'expected an item of type message, function_call, function_call_output or item_reference',
  }),
);
export type ResponsesItem = z.infer<typeof ResponsesItem>;
/** A conversation as items: what earlier responses said, then the new input. */
export const ResponsesItems = z.array(ResponsesItem);

const ResponsesFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({ type: z.literal('json_schema'), name: z.string().min(1), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish(), description: z.string().nullish() }),
]);

const FunctionTool = z.object({
  type: z.literal('function', { error: 'only function tools are supported: the gateway runs no hosted tools (web search, file search, computer use)' }),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: FunctionParameters,
  strict: z.boolean().nullish(),
});

export const ResponsesRequest = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(ResponsesItem)]),
    instructions: z.string().nullish(),
    tools: z.array(FunctionTool).nullish(),
    tool_choice: z
      .union([z.enum(['auto', 'none']), z.object({ type: z.literal('function'), name: z.string() }), z.literal('required')])
      .nullish()
      .refine((c) => c == null || c === 'auto' || c === 'none', { message: 'the gateway cannot force a tool call; use tool_choice "auto" or "none"' }),
    text: z.object({ format: ResponsesFormat.optional() }).passthrough().nullish(),
    max_output_tokens: z.number().int().min(1).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().nullish(),
    stream: z.boolean().nullish(),
    store: z.boolean().nullish(),
    previous_response_id: z.string().min(1).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
    user: z.string().nullish(),
  })
  .passthrough();
export type ResponsesRequest = z.infer<typeof ResponsesRequest>;


/** A Responses API response object (`POST /v1/responses`, whole): the request's settings echoed, its output items and usage. */
export const OaResponse = z
  .object({
    id: z.string(),
    object: z.literal('response'),
    created_at: z.number().int(),
    model: z.string(),
    status: z.enum(['completed', 'incomplete']),
    incomplete_details: z.object({ reason: z.string() }).nullable(),
    error: z.null(),
    output: z.array(
      z.union([
        z.object({ type: z.literal('message'), id: z.string(), status: z.string(), role: z.literal('assistant'), content: z.array(z.object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()) })) }),
        z.object({ type: z.literal('function_call'), id: z.string(), call_id: z.string(), name: z.string(), arguments: z.string(), status: z.string() }),
      ]),
    ),
    usage: z.object({
      input_tokens: z.number().int(),
      input_tokens_details: z.object({ cached_tokens: z.number().int() }),
      output_tokens: z.number().int(),
      output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
      total_tokens: z.number().int(),
    }),
  })
  .passthrough();
