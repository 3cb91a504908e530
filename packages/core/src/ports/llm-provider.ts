/**
 * The port every model provider implements (Ollama, OpenAI-compatible, Anthropic, embedded).
 * Requests and answers use one provider-neutral shape; adapters translate to their wire format
 * and map their failures to `LlmProviderError` so the router can decide what to retry.
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  name: string;
  /** Parsed JSON arguments. */
  arguments: Record<string, unknown>;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Calls the assistant made (role `assistant`). */
  toolCalls?: ToolCall[];
  /** Which call this message answers (role `tool`). */
  toolCallId?: string;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
}

/** `json`: any JSON object; a schema: output must validate against it. */
export type OutputFormat = 'json' | { schema: Record<string, unknown> };

export interface ChatRequest {
  /** The provider's own model name (the router resolves aliases first). */
  model: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  format?: OutputFormat;
  maxTokens?: number;
  temperature?: number;
  stop?: string[];
  /**
   * A one-shot prompt to complete (at most a system prompt and one user prompt, no tools):
   * adapters with a completion endpoint (Ollama's `/api/generate`) use it; the others treat
   * it as a one-turn chat.
   */
  completion?: boolean;
}

export interface Usage {
  tokensIn: number;
  tokensOut: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface ChatResponse {
  model: string;
  content: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
}

/** A stream is deltas and tool calls, always ending with exactly one `done`. */
export type ChatChunk =
  | { type: 'delta'; text: string }
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'done'; finishReason: FinishReason; usage: Usage; model: string };

export interface EmbedRequest {
  model: string;
  input: string[];
}

export interface EmbedResponse {
  model: string;
  embeddings: number[][];
  usage: Usage;
}

export interface ProviderModel {
  name: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Give up after this long; adapters turn it into an abort and a `timeout` error. */
  timeoutMs: number;
}

export interface LlmProvider {
  /** Deployment name from config, e.g. `ollama` or `openai-backup`. */
  readonly name: string;
  readonly kind: 'ollama' | 'openai' | 'anthropic' | 'embedded';
  chat(req: ChatRequest, opts: CallOptions): Promise<ChatResponse>;
  chatStream(req: ChatRequest, opts: CallOptions): AsyncIterable<ChatChunk>;
  embed(req: EmbedRequest, opts: CallOptions): Promise<EmbedResponse>;
  listModels(opts: CallOptions): Promise<ProviderModel[]>;
  /** Free resources (sockets, loaded models). */
  close?(): Promise<void>;
}

/** The unified taxonomy of provider failures. */
export type LlmErrorKind = 'validation' | 'auth' | 'rate_limit' | 'context_length' | 'content_policy' | 'upstream' | 'timeout';

/** Which kinds another attempt (same or next provider) may cure. */
export const RETRYABLE_KINDS: ReadonlySet<LlmErrorKind> = new Set(['rate_limit', 'upstream', 'timeout']);

export class LlmProviderError extends Error {
  override name = 'LlmProviderError';
  constructor(
    readonly kind: LlmErrorKind,
    readonly provider: string,
    message: string,
    readonly opts: { status?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
  }
  get retryable(): boolean {
    return RETRYABLE_KINDS.has(this.kind);
  }
}
