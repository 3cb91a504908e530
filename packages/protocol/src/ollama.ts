import * as z from 'zod';
import { LlmMessage, LlmTool } from './llm.js';

/**
 * The Ollama-compatible routes' wire shapes (`/api/chat`, `/api/generate`, `/api/embed`,
 * `/api/embeddings`, `/api/tags`, `/api/show`, `/api/ps`, `/api/version`), as the official
 * `ollama` client sends and reads them. Unknown fields Ollama clients send pass.
 */

/** Ollama's error body: the message as a plain string. */
export const OllamaError = z.object({ error: z.string() });

const Counts = { done_reason: z.enum(['stop', 'length']).optional(), prompt_eval_count: z.number().int().optional(), eval_count: z.number().int().optional() };

/** One NDJSON line of a streamed chat, or the whole answer with `stream: false` (`done: true`). */
export const OllamaChatResponse = z.object({
  model: z.string(),
  created_at: z.string(),
  message: z.object({ role: z.literal('assistant'), content: z.string(), tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()) }) })).optional() }),
  done: z.boolean(),
  ...Counts,
});

/** One NDJSON line of a streamed completion, or the whole of it. */
export const OllamaGenerateResponse = z.object({ model: z.string(), created_at: z.string(), response: z.string(), done: z.boolean(), ...Counts });

/** Ollama's sampling options, of which the gateway honours these. */
export const OllamaOptions = z
  .object({ num_predict: z.number().int().min(1).optional(), temperature: z.number().optional(), stop: z.array(z.string()).optional() })
  .passthrough()
  .optional();
export type OllamaOptions = z.infer<typeof OllamaOptions>;
/** `json` for any JSON, or a JSON Schema the answer must follow. */
export const OllamaFormat = z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional();
export type OllamaFormat = z.infer<typeof OllamaFormat>;

export const OllamaChatRequest = z
  .object({
    model: z.string().min(1),
    messages: z.array(
      z
        .object({
          role: LlmMessage.shape.role,
          content: z.string().default(''),
          tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.record(z.string(), z.unknown()) }) })).optional(),
          /** Which tool a `tool` message answers (Ollama names the tool, not a call id). */
          tool_name: z.string().optional(),
        })
        .passthrough(),
    ),
    tools: z.array(z.object({ type: z.literal('function'), function: LlmTool })).optional(),
    format: OllamaFormat,
    stream: z.boolean().default(true),
    options: OllamaOptions,
  })
  .passthrough();
export type OllamaChatRequest = z.infer<typeof OllamaChatRequest>;

export const OllamaGenerateRequest = z
  .object({
    model: z.string().min(1),
    prompt: z.string().min(1),
    system: z.string().optional(),
    format: OllamaFormat,
    stream: z.boolean().default(true),
    options: OllamaOptions,
  })
  .passthrough();
export type OllamaGenerateRequest = z.infer<typeof OllamaGenerateRequest>;

export const OllamaEmbedRequest = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()).min(1)]),
    dimensions: z.number().int().min(1).optional(),
  })
  .passthrough();
export const OllamaEmbedResponse = z.object({ model: z.string(), embeddings: z.array(z.array(z.number())), total_duration: z.number(), load_duration: z.number(), prompt_eval_count: z.number() });
/** `/api/embeddings`, Ollama's older route: one prompt, one vector. */
export const OllamaLegacyEmbedRequest = z.object({ model: z.string().min(1), prompt: z.string() }).passthrough();
export const OllamaLegacyEmbedResponse = z.object({ embedding: z.array(z.number()) });

const OllamaModelDetails = z.object({ parent_model: z.string(), format: z.string(), family: z.string(), families: z.array(z.string()), parameter_size: z.string(), quantization_level: z.string() });
const OllamaListedModel = z.object({ name: z.string(), model: z.string(), modified_at: z.string(), size: z.number(), digest: z.string(), details: OllamaModelDetails });
export const OllamaTagsResponse = z.object({ models: z.array(OllamaListedModel) });
export const OllamaPsResponse = z.object({
  models: z.array(OllamaListedModel.omit({ modified_at: true }).extend({ expires_at: z.string(), size_vram: z.number(), context_length: z.number() })),
});
/** Older clients name the model `name`; either is taken. */
export const OllamaShowRequest = z
  .object({ model: z.string().min(1).optional(), name: z.string().min(1).optional(), verbose: z.boolean().optional() })
  .passthrough()
  .refine((b) => b.model ?? b.name, { message: 'model is required', path: ['model'] });
export const OllamaShowResponse = z.object({
  modelfile: z.string(),
  parameters: z.string(),
  template: z.string(),
  details: OllamaModelDetails,
  model_info: z.record(z.string(), z.unknown()),
  capabilities: z.array(z.string()),
  modified_at: z.string(),
});
export const OllamaVersionResponse = z.object({ version: z.string() });
