import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Small local HTTP servers that speak the real wire formats of Ollama, OpenAI chat
 * completions and Anthropic Messages (JSON, NDJSON and SSE streams, tool calls, errors), so
 * adapters and the gateway are tested against the protocol, not against mocks. Each request
 * takes the next queued behaviour, else the default one. Loopback only.
 */

export interface FakeToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export type FakeBehavior =
  | { kind: 'reply'; text?: string; toolCalls?: FakeToolCall[]; usage?: { in: number; out: number }; chunkDelayMs?: number }
  | { kind: 'error'; status: number; message: string; type?: string; code?: string; retryAfter?: string }
  /** Status 200, some tokens, then the failure: a dropped connection or the wire's error event. */
  | { kind: 'midstream'; text: string; afterChunks: number; how: 'disconnect' | 'error_event' }
  | { kind: 'malformed' }
  /** Accept the request and never answer (a provider that is down but still listening). */
  | { kind: 'hang' };

export type Wire = 'openai' | 'ollama' | 'anthropic';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The client closed the connection before the whole answer was sent. */
  aborted: boolean;
}

export interface FakeLlmServer {
  wire: Wire;
  /** Base URL as its clients expect it (OpenAI's includes `/v1`). */
  url: string;
  origin: string;
  requests: RecordedRequest[];
  /** Queue behaviours for the next requests, in order. */
  next(...b: FakeBehavior[]): void;
  setDefault(b: FakeBehavior): void;
  close(): Promise<void>;
}

const DEFAULT_REPLY: FakeBehavior = { kind: 'reply', text: 'Hello from the fake provider.', usage: { in: 12, out: 6 } };

export interface FakeLlmOptions {
  model?: string;
  embedDim?: number;
  /**
   * Decides a request's behaviour from the request itself (a scripted model looks at the
   * conversation so far); undefined falls back to the queue, then the default.
   */
  respond?: (req: RecordedRequest) => FakeBehavior | undefined;
  /** Answers a request itself (another part of the wire, e.g. Ollama's model management); true when it did. */
  intercept?: (req: RecordedRequest, res: ServerResponse) => boolean;
}

export async function startFakeLlm(wire: Wire, opts: FakeLlmOptions = {}): Promise<FakeLlmServer> {
  const model = opts.model ?? `fake-${wire}`;
  const queue: FakeBehavior[] = [];
  let def: FakeBehavior = DEFAULT_REPLY;
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      let body: unknown = undefined;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const path = (req.url ?? '/').split('?')[0]!;
      const recorded: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, aborted: false };
      requests.push(recorded);
      res.once('close', () => {
        if (!res.writableFinished) recorded.aborted = true;
      });
      if (opts.intercept?.(recorded, res)) return;
      let behavior: FakeBehavior;
      try {
        behavior = opts.respond?.(recorded) ?? queue.shift() ?? def;
      } catch (err) {
        behavior = { kind: 'error', status: 500, message: `the fake model failed: ${err instanceof Error ? err.message : String(err)}` };
      }
      try {
        route(wire, path, req.method ?? 'GET', body as Record<string, unknown>, behavior, res, { model, embedDim: opts.embedDim ?? 8, hanging });
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    wire,
    origin,
    url: wire === 'openai' ? `${origin}/v1` : origin,
    requests,
    next: (...b) => queue.push(...b),
    setDefault: (b) => (def = b),
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Ctx {
  model: string;
  embedDim: number;
  hanging: Set<ServerResponse>;
}

function route(wire: Wire, path: string, method: string, body: Record<string, unknown> | undefined, b: FakeBehavior, res: ServerResponse, ctx: Ctx): void {
  if (b.kind === 'hang') {
    ctx.hanging.add(res);
    return;
  }
  if (b.kind === 'error') return sendError(wire, b, res);
  if (b.kind === 'malformed') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [ {"message": ');
    return;
  }
  const stream = body?.['stream'] === true;
  const key = `${wire} ${method} ${path}`;
  switch (key) {
    case 'openai POST /v1/chat/completions':
      return stream ? void openAiStream(body!, b, res, ctx) : openAiJson(b, res, ctx);
    case 'openai POST /v1/embeddings':
      return json(res, 200, { object: 'list', model: ctx.model, data: inputs(body).map((t, i) => ({ object: 'embedding', index: i, embedding: vector(t, ctx.embedDim) })), usage: { prompt_tokens: 3, total_tokens: 3 } });
    case 'openai GET /v1/models':
      return json(res, 200, { object: 'list', data: [{ id: ctx.model, object: 'model', created: 1700000000, owned_by: 'fake' }] });
    case 'ollama POST /api/chat':
      return stream || body?.['stream'] === undefined ? void ollamaStream(b, res, ctx) : ollamaJson(b, res, ctx);
    case 'ollama POST /api/generate':
      return stream || body?.['stream'] === undefined ? void ollamaGenerateStream(b, res, ctx) : ollamaGenerateJson(b, res, ctx);
    case 'ollama POST /api/embed':
      return json(res, 200, { model: ctx.model, embeddings: inputs(body).map((t) => vector(t, ctx.embedDim)), prompt_eval_count: 3 });
    case 'ollama GET /api/tags':
      return json(res, 200, { models: [{ name: `${ctx.model}:latest`, model: `${ctx.model}:latest`, modified_at: '2024-01-01T00:00:00Z', size: 1, digest: 'sha256:0', details: {} }] });
    case 'anthropic POST /v1/messages':
      return stream ? void anthropicStream(b, res, ctx) : anthropicJson(b, res, ctx);
    case 'anthropic GET /v1/models':
      return json(res, 200, { data: [{ type: 'model', id: ctx.model, display_name: ctx.model, created_at: '2024-01-01T00:00:00Z' }], has_more: false });
    default:
      return json(res, 404, { error: `no route ${key}` });
  }
}

function inputs(body: Record<string, unknown> | undefined): string[] {
  const i = body?.['input'];
  return Array.isArray(i) ? i.map(String) : [String(i ?? '')];
}

/** A deterministic vector per text, so tests can tell inputs apart. */
function vector(text: string, dim: number): number[] {
  return Array.from({ length: dim }, (_, i) => ((text.charCodeAt(i % Math.max(1, text.length)) || 0) % 10) / 10);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function sendError(wire: Wire, b: Extract<FakeBehavior, { kind: 'error' }>, res: ServerResponse): void {
  const headers: Record<string, string> = b.retryAfter !== undefined ? { 'retry-after': b.retryAfter } : {};
  if (wire === 'openai') return json(res, b.status, { error: { message: b.message, type: b.type ?? 'invalid_request_error', param: null, code: b.code ?? null } }, headers);
  if (wire === 'ollama') return json(res, b.status, { error: b.message }, headers);
  return json(res, b.status, { type: 'error', error: { type: b.type ?? 'api_error', message: b.message } }, headers);
}

/** Split text into word-sized deltas the way providers stream them. */
function pieces(text: string): string[] {
  return text.match(/\s*\S+/g) ?? (text ? [text] : []);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function drip(res: ServerResponse, frames: string[], b: FakeBehavior): Promise<void> {
  const delay = b.kind === 'reply' ? (b.chunkDelayMs ?? 0) : 0;
  for (const f of frames) {
    if (res.destroyed) return;
    res.write(f);
    if (delay) await sleep(delay);
  }
}

function usageOf(b: FakeBehavior) {
  return b.kind === 'reply' ? (b.usage ?? { in: 12, out: 6 }) : { in: 12, out: 1 };
}

// --- OpenAI chat completions ---

function openAiJson(b: FakeBehavior, res: ServerResponse, ctx: Ctx): void {
  if (b.kind !== 'reply') return json(res, 500, { error: { message: 'midstream applies to streams', type: 'server_error' } });
  const u = usageOf(b);
  const tools = b.toolCalls ?? [];
  json(res, 200, {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1700000000,
    model: ctx.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: tools.length ? null : (b.text ?? ''), ...(tools.length ? { tool_calls: tools.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: JSON.stringify(t.arguments) } })) } : {}), refusal: null },
        logprobs: null,
        finish_reason: tools.length ? 'tool_calls' : 'stop',
      },
    ],
    usage: { prompt_tokens: u.in, completion_tokens: u.out, total_tokens: u.in + u.out },
  });
}

async function openAiStream(body: Record<string, unknown>, b: FakeBehavior, res: ServerResponse, ctx: Ctx): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1700000000, model: ctx.model, system_fingerprint: null };
  const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const choice = (delta: unknown, finish: string | null = null) => frame({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const text = b.kind === 'reply' || b.kind === 'midstream' ? (b.text ?? '') : '';
  const frames = [choice({ role: 'assistant', content: '', refusal: null }), ...pieces(text).map((p) => choice({ content: p }))];
  if (b.kind === 'midstream') {
    await drip(res, frames.slice(0, b.afterChunks + 1), b);
    if (b.how === 'error_event') res.end(frame({ error: { message: 'The server had an error while processing your request.', type: 'server_error' } }));
    else res.destroy();
    return;
  }
  const tools = b.kind === 'reply' ? (b.toolCalls ?? []) : [];
  tools.forEach((t, index) => {
    const args = JSON.stringify(t.arguments);
    const half = Math.floor(args.length / 2);
    frames.push(choice({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }));
    frames.push(choice({ tool_calls: [{ index, function: { arguments: args.slice(0, half) } }] }));
    frames.push(choice({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] }));
  });
  frames.push(choice({}, tools.length ? 'tool_calls' : 'stop'));
  const so = body['stream_options'] as { include_usage?: boolean } | undefined;
  if (so?.include_usage) {
    const u = usageOf(b);
    frames.push(frame({ ...base, choices: [], usage: { prompt_tokens: u.in, completion_tokens: u.out, total_tokens: u.in + u.out } }));
  }
  frames.push('data: [DONE]\n\n');
  await drip(res, frames, b);
  res.end();
}

// --- Ollama /api/chat ---

function ollamaJson(b: FakeBehavior, res: ServerResponse, ctx: Ctx): void {
  if (b.kind !== 'reply') return json(res, 500, { error: 'midstream applies to streams' });
  const u = usageOf(b);
  const tools = b.toolCalls ?? [];
  json(res, 200, {
    model: ctx.model,
    created_at: new Date().toISOString(),
    message: { role: 'assistant', content: b.text ?? '', ...(tools.length ? { tool_calls: tools.map((t) => ({ function: { name: t.name, arguments: t.arguments } })) } : {}) },
    done_reason: 'stop',
    done: true,
    total_duration: 1000,
    load_duration: 10,
    prompt_eval_count: u.in,
    prompt_eval_duration: 100,
    eval_count: u.out,
    eval_duration: 100,
  });
}

async function ollamaStream(b: FakeBehavior, res: ServerResponse, ctx: Ctx): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (o: unknown) => `${JSON.stringify(o)}\n`;
  const at = () => new Date().toISOString();
  const text = b.kind === 'reply' || b.kind === 'midstream' ? (b.text ?? '') : '';
  const frames = pieces(text).map((p) => line({ model: ctx.model, created_at: at(), message: { role: 'assistant', content: p }, done: false }));
  if (b.kind === 'midstream') {
    await drip(res, frames.slice(0, b.afterChunks), b);
    if (b.how === 'error_event') res.end(line({ error: 'an error was encountered while running the model: unexpected EOF' }));
    else res.destroy();
    return;
  }
  const tools = b.kind === 'reply' ? (b.toolCalls ?? []) : [];
  // Ollama streams tool calls whole, in one message chunk with empty content.
  if (tools.length) frames.push(line({ model: ctx.model, created_at: at(), message: { role: 'assistant', content: '', tool_calls: tools.map((t) => ({ function: { name: t.name, arguments: t.arguments } })) }, done: false }));
  const u = usageOf(b);
  frames.push(line({ model: ctx.model, created_at: at(), message: { role: 'assistant', content: '' }, done_reason: 'stop', done: true, total_duration: 1000, load_duration: 10, prompt_eval_count: u.in, prompt_eval_duration: 100, eval_count: u.out, eval_duration: 100 }));
  await drip(res, frames, b);
  res.end();
}

// --- Ollama /api/generate (completion: `response` text, no messages, no tools) ---

function ollamaGenerateJson(b: FakeBehavior, res: ServerResponse, ctx: Ctx): void {
  if (b.kind !== 'reply') return json(res, 500, { error: 'midstream applies to streams' });
  const u = usageOf(b);
  json(res, 200, { model: ctx.model, created_at: new Date().toISOString(), response: b.text ?? '', done: true, done_reason: 'stop', context: [1, 2, 3], total_duration: 1000, load_duration: 10, prompt_eval_count: u.in, prompt_eval_duration: 100, eval_count: u.out, eval_duration: 100 });
}

async function ollamaGenerateStream(b: FakeBehavior, res: ServerResponse, ctx: Ctx): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (o: unknown) => `${JSON.stringify(o)}\n`;
  const at = () => new Date().toISOString();
  const text = b.kind === 'reply' || b.kind === 'midstream' ? (b.text ?? '') : '';
  const frames = pieces(text).map((p) => line({ model: ctx.model, created_at: at(), response: p, done: false }));
  if (b.kind === 'midstream') {
    await drip(res, frames.slice(0, b.afterChunks), b);
    if (b.how === 'error_event') res.end(line({ error: 'an error was encountered while running the model: unexpected EOF' }));
    else res.destroy();
    return;
  }
  const u = usageOf(b);
  frames.push(line({ model: ctx.model, created_at: at(), response: '', done: true, done_reason: 'stop', context: [1, 2, 3], total_duration: 1000, load_duration: 10, prompt_eval_count: u.in, prompt_eval_duration: 100, eval_count: u.out, eval_duration: 100 }));
  await drip(res, frames, b);
  res.end();
}

// --- Anthropic Messages ---

function anthropicJson(b: FakeBehavior, res: ServerResponse, ctx: Ctx): void {
  if (b.kind !== 'reply') return json(res, 500, { type: 'error', error: { type: 'api_error', message: 'midstream applies to streams' } });
  const u = usageOf(b);
  const tools = b.toolCalls ?? [];
  json(res, 200, {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content: [...(b.text ? [{ type: 'text', text: b.text }] : []), ...tools.map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.arguments }))],
    stop_reason: tools.length ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: u.in, output_tokens: u.out },
  });
}

async function anthropicStream(b: FakeBehavior, res: ServerResponse, ctx: Ctx): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const ev = (type: string, o: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
  const u = usageOf(b);
  const text = b.kind === 'reply' || b.kind === 'midstream' ? (b.text ?? '') : '';
  const frames = [
    ev('message_start', { message: { id: 'msg_fake', type: 'message', role: 'assistant', model: ctx.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: u.in, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ev('ping', {}),
    ...pieces(text).map((p) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } })),
  ];
  if (b.kind === 'midstream') {
    await drip(res, frames.slice(0, 3 + b.afterChunks), b);
    if (b.how === 'error_event') res.end(ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    else res.destroy();
    return;
  }
  frames.push(ev('content_block_stop', { index: 0 }));
  const tools = b.kind === 'reply' ? (b.toolCalls ?? []) : [];
  tools.forEach((t, i) => {
    const index = i + 1;
    const args = JSON.stringify(t.arguments);
    const half = Math.floor(args.length / 2);
    frames.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} } }));
    frames.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: args.slice(0, half) } }));
    frames.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: args.slice(half) } }));
    frames.push(ev('content_block_stop', { index }));
  });
  frames.push(ev('message_delta', { delta: { stop_reason: tools.length ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: u.out } }));
  frames.push(ev('message_stop', {}));
  await drip(res, frames, b);
  res.end();
}
