import {
  LlmProviderError,
  type CallOptions,
  type ChatChunk,
  type ChatMessage,
  type ChatRequest,
  type ChatResponse,
  type EmbedRequest,
  type EmbedResponse,
  type FinishReason,
  type LlmProvider,
  type ProviderModel,
  type ToolCall,
} from '@aiflock/core';
import { ndjsonLines, parseJson, providerFetch, readJson } from './http.js';

interface OllamaMessage {
  role: string;
  content: string;
  tool_calls?: Array<{ function: { name: string; arguments: Record<string, unknown> } }>;
  tool_name?: string;
}

interface OllamaChatLine {
  model?: string;
  message?: OllamaMessage;
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string;
}

interface OllamaGenerateLine {
  model?: string;
  response?: string;
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string;
}

const readError = (_status: number, body: string) => {
  try {
    return { message: String((JSON.parse(body) as { error?: unknown }).error ?? body) };
  } catch {
    return { message: body || 'no body' };
  }
};

/**
 * Ollama's native API: `/api/chat` for conversations and tools, `/api/generate` for one-shot
 * completions (NDJSON streams both), `/api/embed`, `/api/tags`.
 */
export class OllamaProvider implements LlmProvider {
  readonly kind = 'ollama' as const;
  private readonly base: string;

  /** Sent as a bearer token: Ollama behind an authenticating proxy (or another flock's gateway). */
  private readonly headers: Record<string, string>;

  constructor(
    readonly name: string,
    baseUrl: string,
    apiKey?: string,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  async chat(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
    const prompt = completionOf(req);
    if (prompt) {
      const { res, signal } = await providerFetch(this.name, `${this.base}/api/generate`, { method: 'POST', headers: this.headers, body: this.generateBody(req, prompt, false) }, opts, readError);
      const line = await readJson<OllamaGenerateLine>(this.name, res, signal, opts.timeoutMs);
      if (line.error) throw new LlmProviderError('upstream', this.name, line.error);
      return { model: line.model ?? req.model, content: line.response ?? '', toolCalls: [], finishReason: finish(line.done_reason, false), usage: { tokensIn: line.prompt_eval_count ?? 0, tokensOut: line.eval_count ?? 0 } };
    }
    const { res, signal } = await providerFetch(this.name, `${this.base}/api/chat`, { method: 'POST', headers: this.headers, body: this.body(req, false) }, opts, readError);
    const line = await readJson<OllamaChatLine>(this.name, res, signal, opts.timeoutMs);
    if (line.error) throw new LlmProviderError('upstream', this.name, line.error);
    const toolCalls = this.toolCalls(line.message);
    return {
      model: line.model ?? req.model,
      content: line.message?.content ?? '',
      toolCalls,
      finishReason: finish(line.done_reason, toolCalls.length > 0),
      usage: { tokensIn: line.prompt_eval_count ?? 0, tokensOut: line.eval_count ?? 0 },
    };
  }

  async *chatStream(req: ChatRequest, opts: CallOptions): AsyncGenerator<ChatChunk> {
    const prompt = completionOf(req);
    if (prompt) {
      yield* this.generateStream(req, prompt, opts);
      return;
    }
    const { res, signal } = await providerFetch(this.name, `${this.base}/api/chat`, { method: 'POST', headers: this.headers, body: this.body(req, true) }, opts, readError);
    let sawTools = false;
    for await (const raw of ndjsonLines(this.name, res, signal, opts.timeoutMs)) {
      const line = parseJson<OllamaChatLine>(this.name, raw);
      if (line.error) throw new LlmProviderError('upstream', this.name, line.error);
      if (line.message?.content) yield { type: 'delta', text: line.message.content };
      // Ollama sends tool calls whole, in a message chunk of their own (often with empty content).
      for (const call of this.toolCalls(line.message)) {
        sawTools = true;
        yield { type: 'tool_call', call };
      }
      if (line.done) {
        yield { type: 'done', model: line.model ?? req.model, finishReason: finish(line.done_reason, sawTools), usage: { tokensIn: line.prompt_eval_count ?? 0, tokensOut: line.eval_count ?? 0 } };
        return;
      }
    }
    throw new LlmProviderError('upstream', this.name, 'stream ended before done');
  }

  async embed(req: EmbedRequest, opts: CallOptions): Promise<EmbedResponse> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/api/embed`, { method: 'POST', headers: this.headers, body: { model: req.model, input: req.input } }, opts, readError);
    const body = await readJson<{ model?: string; embeddings?: number[][]; prompt_eval_count?: number }>(this.name, res, signal, opts.timeoutMs);
    if (!Array.isArray(body.embeddings)) throw new LlmProviderError('upstream', this.name, 'embed answer has no embeddings');
    return { model: body.model ?? req.model, embeddings: body.embeddings, usage: { tokensIn: body.prompt_eval_count ?? 0, tokensOut: 0 } };
  }

  async listModels(opts: CallOptions): Promise<ProviderModel[]> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/api/tags`, { method: 'GET', headers: this.headers }, opts, readError);
    const body = await readJson<{ models?: Array<{ name: string }> }>(this.name, res, signal, opts.timeoutMs);
    return (body.models ?? []).map((m) => ({ name: m.name }));
  }

  /** `/api/generate` streams `response` text lines, then one `done` line with the counts. */
  private async *generateStream(req: ChatRequest, prompt: { system?: string; prompt: string }, opts: CallOptions): AsyncGenerator<ChatChunk> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/api/generate`, { method: 'POST', headers: this.headers, body: this.generateBody(req, prompt, true) }, opts, readError);
    for await (const raw of ndjsonLines(this.name, res, signal, opts.timeoutMs)) {
      const line = parseJson<OllamaGenerateLine>(this.name, raw);
      if (line.error) throw new LlmProviderError('upstream', this.name, line.error);
      if (line.response) yield { type: 'delta', text: line.response };
      if (line.done) {
        yield { type: 'done', model: line.model ?? req.model, finishReason: finish(line.done_reason, false), usage: { tokensIn: line.prompt_eval_count ?? 0, tokensOut: line.eval_count ?? 0 } };
        return;
      }
    }
    throw new LlmProviderError('upstream', this.name, 'stream ended before done');
  }

  private body(req: ChatRequest, stream: boolean) {
    return {
      model: req.model,
      stream,
      messages: req.messages.map((m) => toOllamaMessage(m, req.messages)),
      ...(req.tools?.length ? { tools: req.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters } })) } : {}),
      ...formatOf(req),
      options: optionsOf(req),
    };
  }

  private generateBody(req: ChatRequest, p: { system?: string; prompt: string }, stream: boolean) {
    return { model: req.model, stream, prompt: p.prompt, ...(p.system !== undefined ? { system: p.system } : {}), ...formatOf(req), options: optionsOf(req) };
  }

  private toolCalls(msg: OllamaMessage | undefined): ToolCall[] {
    // Ollama tool calls carry no id; the gateway numbers them so tool results can refer back.
    return (msg?.tool_calls ?? []).map((c, i) => ({ id: `call_${i}_${c.function.name}`, name: c.function.name, arguments: c.function.arguments ?? {} }));
  }
}

/** The prompt of a completion request that `/api/generate` can carry, or null (then it is a chat). */
function completionOf(req: ChatRequest): { system?: string; prompt: string } | null {
  if (!req.completion || req.tools?.length) return null;
  const [first, second, ...rest] = req.messages;
  if (rest.length > 0 || !first) return null;
  if (!second) return first.role === 'user' ? { prompt: first.content } : null;
  return first.role === 'system' && second.role === 'user' ? { system: first.content, prompt: second.content } : null;
}

function optionsOf(req: ChatRequest): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (req.maxTokens !== undefined) options['num_predict'] = req.maxTokens;
  if (req.temperature !== undefined) options['temperature'] = req.temperature;
  if (req.stop) options['stop'] = req.stop;
  return options;
}

/** Ollama's `format`: `"json"`, or a JSON schema the output must follow. */
function formatOf(req: ChatRequest): { format?: unknown } {
  return req.format ? { format: req.format === 'json' ? 'json' : req.format.schema } : {};
}

function toOllamaMessage(m: ChatMessage, all: readonly ChatMessage[]): OllamaMessage {
  const out: OllamaMessage = { role: m.role, content: m.content };
  if (m.toolCalls?.length) out.tool_calls = m.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.arguments } }));
  if (m.role === 'tool') {
    // Ollama matches a tool result to its call by the tool's name (its calls carry no id).
    const name = all.flatMap((x) => x.toolCalls ?? []).find((c) => c.id === m.toolCallId)?.name;
    if (name) out.tool_name = name;
  }
  return out;
}

function finish(reason: string | undefined, tools: boolean): FinishReason {
  if (tools) return 'tool_calls';
  return reason === 'length' ? 'length' : 'stop';
}
