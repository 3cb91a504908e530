import { z } from 'zod';

/** The Ollama-compatible routes' answers (`/api/chat`, `/api/generate`), as the `ollama` client reads them. */

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
