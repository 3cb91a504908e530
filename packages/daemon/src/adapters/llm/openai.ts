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
import { parseJson, providerFetch, readJson, sseEvents } from './http.js';

interface OaToolCall {
  index?: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

interface OaChoice {
  message?: { content?: string | null; tool_calls?: OaToolCall[] };
  delta?: { content?: string | null; tool_calls?: OaToolCall[] };
  finish_reason?: string | null;
}

interface OaCompletion {
  model?: string;
  choices?: OaChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string; code?: string; type?: string };
}

const readError = (_status: number, body: string) => {
  try {
    const e = (JSON.parse(body) as OaCompletion).error;
    return { message: e?.message ?? body, code: e?.code ?? e?.type };
  } catch {
    return { message: body || 'no body' };
  }
};

/** Any server speaking OpenAI's chat completions (OpenAI, vLLM, llama.cpp server, LM Studio). */
export class OpenAiProvider implements LlmProvider {
  readonly kind = 'openai' as const;
  private readonly base: string;

  constructor(
    readonly name: string,
    baseUrl: string,
    private readonly apiKey?: string,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  async chat(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/chat/completions`, { method: 'POST', headers: this.headers(), body: this.body(req, false) }, opts, readError);
    const body = await readJson<OaCompletion>(this.name, res, signal, opts.timeoutMs);
    const choice = body.choices?.[0];
    if (!choice?.message) throw new LlmProviderError('upstream', this.name, 'completion has no choices');
    const toolCalls = (choice.message.tool_calls ?? []).map((c) => this.toolCall(c));
    return {
      model: body.model ?? req.model,
      content: choice.message.content ?? '',
      toolCalls,
      finishReason: finish(choice.finish_reason),
      usage: { tokensIn: body.usage?.prompt_tokens ?? 0, tokensOut: body.usage?.completion_tokens ?? 0 },
    };
  }

  async *chatStream(req: ChatRequest, opts: CallOptions): AsyncGenerator<ChatChunk> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/chat/completions`, { method: 'POST', headers: this.headers(), body: this.body(req, true) }, opts, readError);
    // Tool call arguments arrive as string fragments keyed by index; emit each call whole.
    const calls = new Map<number, { id: string; name: string; args: string }>();
    let reason: string | null = null;
    let model = req.model;
    let usage = { tokensIn: 0, tokensOut: 0 };
    for await (const ev of sseEvents(this.name, res, signal, opts.timeoutMs)) {
      if (ev.data === '[DONE]') {
        for (const c of [...calls.entries()].sort((a, b) => a[0] - b[0])) yield { type: 'tool_call', call: this.toolCall({ id: c[1].id, function: { name: c[1].name, arguments: c[1].args } }) };
        yield { type: 'done', model, finishReason: finish(reason), usage };
        return;
      }
      const chunk = parseJson<OaCompletion>(this.name, ev.data);
      if (chunk.error) throw new LlmProviderError('upstream', this.name, chunk.error.message ?? 'error event');
      if (chunk.model) model = chunk.model;
      if (chunk.usage) usage = { tokensIn: chunk.usage.prompt_tokens ?? 0, tokensOut: chunk.usage.completion_tokens ?? 0 };
      for (const choice of chunk.choices ?? []) {
        if (choice.delta?.content) yield { type: 'delta', text: choice.delta.content };
        for (const tc of choice.delta?.tool_calls ?? []) {
          const i = tc.index ?? 0;
          const cur = calls.get(i) ?? { id: '', name: '', args: '' };
          if (tc.id) cur.id = tc.id;
          if (tc.function?.name) cur.name += tc.function.name;
          if (tc.function?.arguments) cur.args += tc.function.arguments;
          calls.set(i, cur);
        }
        if (choice.finish_reason) reason = choice.finish_reason;
      }
    }
    throw new LlmProviderError('upstream', this.name, 'stream ended without [DONE]');
  }

  async embed(req: EmbedRequest, opts: CallOptions): Promise<EmbedResponse> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/embeddings`, { method: 'POST', headers: this.headers(), body: { model: req.model, input: req.input } }, opts, readError);
    const body = await readJson<{ model?: string; data?: Array<{ index: number; embedding: number[] }>; usage?: { prompt_tokens?: number } }>(this.name, res, signal, opts.timeoutMs);
    if (!Array.isArray(body.data)) throw new LlmProviderError('upstream', this.name, 'embeddings answer has no data');
    const data = [...body.data].sort((a, b) => a.index - b.index);
    return { model: body.model ?? req.model, embeddings: data.map((d) => d.embedding), usage: { tokensIn: body.usage?.prompt_tokens ?? 0, tokensOut: 0 } };
  }

  async listModels(opts: CallOptions): Promise<ProviderModel[]> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/models`, { method: 'GET', headers: this.headers() }, opts, readError);
    const body = await readJson<{ data?: Array<{ id: string }> }>(this.name, res, signal, opts.timeoutMs);
    return (body.data ?? []).map((m) => ({ name: m.id }));
  }

  private headers(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  private toolCall(c: OaToolCall): ToolCall {
    const raw = c.function?.arguments ?? '{}';
    const args = parseJson<unknown>(this.name, raw || '{}');
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new LlmProviderError('upstream', this.name, `tool call arguments are not a JSON object: ${raw.slice(0, 80)}`);
    return { id: c.id ?? '', name: c.function?.name ?? '', arguments: args as Record<string, unknown> };
  }

  private body(req: ChatRequest, stream: boolean) {
    return {
      model: req.model,
      messages: req.messages.map(toOpenAiMessage),
      ...(req.tools?.length ? { tools: req.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters } })) } : {}),
      ...(req.format === 'json' ? { response_format: { type: 'json_object' } } : {}),
      ...(req.format && req.format !== 'json' ? { response_format: { type: 'json_schema', json_schema: { name: 'output', schema: req.format.schema, strict: true } } } : {}),
      ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.stop ? { stop: req.stop } : {}),
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
  }
}

function toOpenAiMessage(m: ChatMessage): Record<string, unknown> {
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content };
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.toolCalls?.length) out['tool_calls'] = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } }));
  return out;
}

function finish(reason: string | null | undefined): FinishReason {
  if (reason === 'length' || reason === 'tool_calls' || reason === 'content_filter') return reason;
  return 'stop';
}
