import {
  LlmProviderError,
  type CallOptions,
  type ChatChunk,
  type ChatMessage,
  type ChatRequest,
  type ChatResponse,
  type EmbedRequest,
  type EmbedResponse,
  type LlmProvider,
  type ProviderModel,
} from '@aiflock/core';
import type { Llama, LlamaCompletion, LlamaContext, LlamaGrammar, LlamaModel } from 'node-llama-cpp';

export interface EmbeddedOptions {
  modelPath: string;
  /** CPU threads for evaluation; 1 keeps a small shared machine responsive. */
  threads: number;
  contextSize: number;
}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  completion: LlamaCompletion;
}

/** Output budget when the caller gives none: small models ramble. */
const DEFAULT_MAX_TOKENS = 128;

/**
 * A GGUF model run in-process by node-llama-cpp's prebuilt CPU binary. The library (and the
 * model) load on first use, so a daemon without an embedded model never pays for it. Only
 * one generation runs at a time on the single context sequence; calls queue.
 */
export class EmbeddedProvider implements LlmProvider {
  readonly kind = 'embedded' as const;
  private loading: Promise<Loaded> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(
    readonly name: string,
    private readonly opts: EmbeddedOptions,
  ) {}

  async chat(req: ChatRequest, opts: CallOptions): Promise<ChatResponse> {
    let content = '';
    for await (const c of this.chatStream(req, opts)) {
      if (c.type === 'delta') content += c.text;
      else if (c.type === 'done') return { model: c.model, content, toolCalls: [], finishReason: c.finishReason, usage: c.usage };
    }
    throw new LlmProviderError('upstream', this.name, 'generation ended without a result');
  }

  async *chatStream(req: ChatRequest, opts: CallOptions): AsyncGenerator<ChatChunk> {
    if (req.tools?.length) throw new LlmProviderError('validation', this.name, 'the embedded model does not support tool calls');
    const { model, completion } = await this.load();
    const grammar = req.format ? await this.grammar(req.format) : undefined;
    const prompt = renderPrompt(req.messages);
    const timeout = AbortSignal.timeout(Math.max(1, opts.timeoutMs));
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;

    // Bridge node-llama-cpp's callback to an async iterator of chunks.
    const pending: string[] = [];
    let wake: (() => void) | null = null;
    let finished = false;
    let failure: unknown = null;
    let stopReason = 'eogToken';
    const run = this.serialize(() =>
      completion.generateCompletionWithMeta(prompt, {
        maxTokens: req.maxTokens ?? DEFAULT_MAX_TOKENS,
        temperature: req.temperature ?? 0,
        ...(grammar ? { grammar } : {}),
        ...(req.stop ? { customStopTriggers: req.stop } : {}),
        signal,
        onTextChunk: (text) => {
          pending.push(text);
          wake?.();
        },
      }),
    ).then(
      (r) => {
        stopReason = r.metadata.stopReason;
        finished = true;
        wake?.();
        return r.response;
      },
      (err: unknown) => {
        failure = err;
        finished = true;
        wake?.();
        return '';
      },
    );
    let text = '';
    while (true) {
      while (pending.length > 0) {
        const t = pending.shift()!;
        text += t;
        // Constrained output is held back until it is known to be complete JSON.
        if (!grammar) yield { type: 'delta', text: t };
      }
      if (finished) break;
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
    await run;
    if (failure) {
      if (timeout.aborted) throw new LlmProviderError('timeout', this.name, `generation exceeded ${opts.timeoutMs} ms`);
      throw new LlmProviderError('upstream', this.name, failure instanceof Error ? failure.message : String(failure));
    }
    if (grammar && stopReason === 'maxTokens') {
      // A grammar guarantees valid JSON only if generation may finish; a cut value is useless.
      throw new LlmProviderError('validation', this.name, `the JSON output reached maxTokens (${req.maxTokens ?? DEFAULT_MAX_TOKENS}) before it was complete; raise maxTokens or bound the schema (maxLength, enum, maxItems)`);
    }
    if (grammar && text) yield { type: 'delta', text };
    const usage = { tokensIn: model.tokenize(prompt).length, tokensOut: model.tokenize(text).length };
    yield { type: 'done', model: this.modelName(), finishReason: stopReason === 'maxTokens' ? 'length' : 'stop', usage };
  }

  async embed(req: EmbedRequest, _opts: CallOptions): Promise<EmbedResponse> {
    const { model } = await this.load();
    return this.serialize(async () => {
      const ctx = await model.createEmbeddingContext({ threads: this.opts.threads, contextSize: this.opts.contextSize });
      try {
        const embeddings: number[][] = [];
        let tokens = 0;
        for (const text of req.input) {
          const e = await ctx.getEmbeddingFor(text);
          embeddings.push([...e.vector]);
          tokens += model.tokenize(text).length;
        }
        return { model: this.modelName(), embeddings, usage: { tokensIn: tokens, tokensOut: 0 } };
      } finally {
        await ctx.dispose();
      }
    });
  }

  async listModels(): Promise<ProviderModel[]> {
    return [{ name: this.modelName() }];
  }

  async close(): Promise<void> {
    if (!this.loading) return;
    const l = await this.loading.catch(() => null);
    this.loading = null;
    if (l) {
      await l.context.dispose();
      await l.model.dispose();
      await l.llama.dispose();
    }
  }

  private modelName(): string {
    return this.opts.modelPath.split('/').pop()!.replace(/\.gguf$/i, '');
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private grammar(format: NonNullable<ChatRequest['format']>): Promise<LlamaGrammar> {
    const key = format === 'json' ? 'json' : JSON.stringify(format.schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = this.load().then(({ llama }) =>
        // node-llama-cpp accepts a subset of JSON Schema; anything else is the caller's error.
        (format === 'json' ? llama.getGrammarFor('json') : llama.createGrammarForJsonSchema(format.schema as never)).catch((err: unknown) => {
          this.grammars.delete(key);
          throw new LlmProviderError('validation', this.name, `unsupported JSON schema for constrained output: ${err instanceof Error ? err.message : String(err)}`);
        }),
      );
      this.grammars.set(key, g);
    }
    return g;
  }

  private load(): Promise<Loaded> {
    this.loading ??= (async () => {
      try {
        // Imported lazily: the native binding costs time and memory a daemon without an
        // embedded model should not pay.
        const { getLlama, LlamaCompletion } = await import('node-llama-cpp');
        // Only the prebuilt CPU binary: never build from source, download or probe GPUs.
        const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: 'error' as never });
        const model = await llama.loadModel({ modelPath: this.opts.modelPath });
        const context = await model.createContext({ threads: this.opts.threads, contextSize: this.opts.contextSize });
        const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
        return { llama, model, context, completion };
      } catch (err) {
        this.loading = null;
        throw new LlmProviderError('upstream', this.name, `cannot load ${this.opts.modelPath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
    return this.loading;
  }
}

/**
 * A plain-text transcript: the embedded default is a completion model, so roles become
 * labels and the answer continues after the last user turn. A single user message is passed
 * as is, so completion prompts work unchanged.
 */
export function renderPrompt(messages: ChatMessage[]): string {
  if (messages.length === 1 && messages[0]!.role === 'user') return messages[0]!.content;
  return `${messages.map((m) => `${m.role}: ${m.content}`).join('\n')}\nassistant:`;
}
