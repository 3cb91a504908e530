import {
  LlmProviderError,
  type CallOptions,
  type ChatChunk,
  type ChatRequest,
  type ChatResponse,
  type EmbedResponse,
  type FinishReason,
  type LlmProvider,
  type ProviderModel,
  type ToolCall,
} from '@aiflock/core';
import { parseJson, providerFetch, readJson, sseEvents } from './http.js';

type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> } | { type: 'tool_result'; tool_use_id: string; content: string };

interface AnthropicMessage {
  model?: string;
  content?: Block[];
  stop_reason?: string | null;
  usage?: { input_tokens?: number; output_tokens?: number };
}

const readError = (_status: number, body: string) => {
  try {
    const e = (JSON.parse(body) as { error?: { type?: string; message?: string } }).error;
    return { message: e?.message ?? body, code: e?.type };
  } catch {
    return { message: body || 'no body' };
  }
};

const API_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; this is the budget when the caller gives none. */
const DEFAULT_MAX_TOKENS = 1024;

/** Anthropic's Messages API: system as a field, tool_use / tool_result blocks, typed SSE events. */
export class AnthropicProvider implements LlmProvider {
  readonly kind = 'anthropic' as const;
  private readonly base: string;

  constructor(
    readonly name: string,
    baseUrl: string,
    private readonly apiKey?: string,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  async chat(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
    const output = structuredOutput(req, this.name);
    const { res, signal } = await providerFetch(this.name, `${this.base}/v1/messages`, { method: 'POST', headers: this.headers(), body: this.body(req, false, output) }, opts, readError);
    const msg = await readJson<AnthropicMessage>(this.name, res, signal, opts.timeoutMs);
    const blocks = msg.content ?? [];
    if (output) {
      const block = blocks.find((b): b is Extract<Block, { type: 'tool_use' }> => b.type === 'tool_use' && b.name === OUTPUT_TOOL);
      if (!block) throw new LlmProviderError('upstream', this.name, `asked for structured output (forced ${OUTPUT_TOOL} tool) but the answer has none`);
      return {
        model: msg.model ?? req.model,
        content: output.render(block.input),
        toolCalls: [],
        finishReason: msg.stop_reason === 'max_tokens' ? 'length' : 'stop',
        usage: { tokensIn: msg.usage?.input_tokens ?? 0, tokensOut: msg.usage?.output_tokens ?? 0 },
      };
    }
    const toolCalls: ToolCall[] = blocks.flatMap((b) => (b.type === 'tool_use' ? [{ id: b.id, name: b.name, arguments: b.input ?? {} }] : []));
    return {
      model: msg.model ?? req.model,
      content: blocks.map((b) => (b.type === 'text' ? b.text : '')).join(''),
      toolCalls,
      finishReason: finish(msg.stop_reason),
      usage: { tokensIn: msg.usage?.input_tokens ?? 0, tokensOut: msg.usage?.output_tokens ?? 0 },
    };
  }

  async *chatStream(req: ChatRequest, opts: CallOptions): AsyncGenerator<ChatChunk> {
    const output = structuredOutput(req, this.name);
    const { res, signal } = await providerFetch(this.name, `${this.base}/v1/messages`, { method: 'POST', headers: this.headers(), body: this.body(req, true, output) }, opts, readError);
    let gotOutput = false;
    const tools = new Map<number, { id: string; name: string; json: string }>();
    let model = req.model;
    let reason: string | null = null;
    const usage = { tokensIn: 0, tokensOut: 0 };
    for await (const ev of sseEvents(this.name, res, signal, opts.timeoutMs)) {
      const data = parseJson<Record<string, any>>(this.name, ev.data); // eslint-disable-line @typescript-eslint/no-explicit-any
      switch (data['type']) {
        case 'message_start':
          model = data['message']?.model ?? model;
          usage.tokensIn = data['message']?.usage?.input_tokens ?? 0;
          usage.tokensOut = data['message']?.usage?.output_tokens ?? 0;
          break;
        case 'content_block_start':
          if (data['content_block']?.type === 'tool_use') tools.set(data['index'], { id: data['content_block'].id, name: data['content_block'].name, json: '' });
          break;
        case 'content_block_delta':
          if (data['delta']?.type === 'text_delta' && data['delta'].text) yield { type: 'delta', text: data['delta'].text };
          else if (data['delta']?.type === 'input_json_delta') {
            const t = tools.get(data['index']);
            if (t) t.json += data['delta'].partial_json ?? '';
          }
          break;
        case 'content_block_stop': {
          const t = tools.get(data['index']);
          if (t) {
            const args = parseJson<Record<string, unknown>>(this.name, t.json || '{}');
            tools.delete(data['index']);
            if (output && t.name === OUTPUT_TOOL) {
              // The forced tool's input is the answer; it is whole (and valid JSON) only here.
              gotOutput = true;
              yield { type: 'delta', text: output.render(args) };
            } else yield { type: 'tool_call', call: { id: t.id, name: t.name, arguments: args } };
          }
          break;
        }
        case 'message_delta':
          reason = data['delta']?.stop_reason ?? reason;
          if (data['usage']?.output_tokens !== undefined) usage.tokensOut = data['usage'].output_tokens;
          break;
        case 'message_stop':
          if (output && !gotOutput) throw new LlmProviderError('upstream', this.name, `asked for structured output (forced ${OUTPUT_TOOL} tool) but the stream has none`);
          yield { type: 'done', model, finishReason: output ? (reason === 'max_tokens' ? 'length' : 'stop') : finish(reason), usage };
          return;
        case 'error': {
          const type: string = data['error']?.type ?? 'api_error';
          const kind = type === 'rate_limit_error' ? 'rate_limit' : type === 'invalid_request_error' ? 'validation' : 'upstream';
          throw new LlmProviderError(kind, this.name, `${type}: ${data['error']?.message ?? 'stream error'}`);
        }
        default:
          break; // ping and future event types
      }
    }
    throw new LlmProviderError('upstream', this.name, 'stream ended without message_stop');
  }

  async embed(): Promise<EmbedResponse> {
    throw new LlmProviderError('validation', this.name, 'the Anthropic API has no embeddings endpoint');
  }

  async listModels(opts: CallOptions): Promise<ProviderModel[]> {
    const { res, signal } = await providerFetch(this.name, `${this.base}/v1/models`, { method: 'GET', headers: this.headers() }, opts, readError);
    const body = await readJson<{ data?: Array<{ id: string }> }>(this.name, res, signal, opts.timeoutMs);
    return (body.data ?? []).map((m) => ({ name: m.id }));
  }

  private headers(): Record<string, string> {
    return { 'anthropic-version': API_VERSION, ...(this.apiKey ? { 'x-api-key': this.apiKey } : {}) };
  }

  private body(req: ChatRequest, stream: boolean, output: StructuredOutput | null) {
    const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const messages: Array<{ role: 'user' | 'assistant'; content: Block[] }> = [];
    for (const m of req.messages) {
      if (m.role === 'system') continue;
      const role = m.role === 'assistant' ? 'assistant' : 'user';
      const blocks: Block[] =
        m.role === 'tool'
          ? [{ type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: m.content }]
          : [...(m.content ? [{ type: 'text' as const, text: m.content }] : []), ...(m.toolCalls ?? []).map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: c.arguments }))];
      // Consecutive messages of one role merge: the API requires alternating turns.
      const prev = messages[messages.length - 1];
      if (prev && prev.role === role) prev.content.push(...blocks);
      else messages.push({ role, content: blocks });
    }
    return {
      model: req.model,
      max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS,
      messages,
      ...(system ? { system } : {}),
      ...(req.tools?.length ? { tools: req.tools.map((t) => ({ name: t.name, description: t.description ?? '', input_schema: t.parameters })) } : {}),
      ...(output ? { tools: [{ name: OUTPUT_TOOL, description: 'Give your answer as this tool input.', input_schema: output.inputSchema }], tool_choice: { type: 'tool', name: OUTPUT_TOOL } } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.stop ? { stop_sequences: req.stop } : {}),
      ...(stream ? { stream: true } : {}),
    };
  }
}

/**
 * The Messages API has no JSON mode. Structured output is forced tool use: one tool whose
 * input schema is the wanted schema, and `tool_choice` naming it, so the API itself makes the
 * model answer with input that matches. Tool inputs must be objects: any other schema is
 * wrapped as `{value: ...}` and unwrapped again.
 */
const OUTPUT_TOOL = 'structured_output';

interface StructuredOutput {
  inputSchema: Record<string, unknown>;
  render(input: Record<string, unknown>): string;
}

function structuredOutput(req: ChatRequest, provider: string): StructuredOutput | null {
  if (!req.format) return null;
  if (req.tools?.length) throw new LlmProviderError('validation', provider, 'Anthropic cannot force structured output and offer tools in one call; ask for one or the other');
  const schema = req.format === 'json' ? { type: 'object' } : req.format.schema;
  if (schema['type'] === 'object') return { inputSchema: schema, render: (input) => JSON.stringify(input) };
  return {
    inputSchema: { type: 'object', properties: { value: schema }, required: ['value'] },
    render: (input) => {
      if (!('value' in input)) throw new LlmProviderError('upstream', provider, `structured output lacks its value: ${JSON.stringify(input).slice(0, 200)}`);
      return JSON.stringify(input['value']);
    },
  };
}

function finish(reason: string | null | undefined): FinishReason {
  if (reason === 'max_tokens') return 'length';
  if (reason === 'tool_use') return 'tool_calls';
  if (reason === 'refusal') return 'content_filter';
  return 'stop';
}
