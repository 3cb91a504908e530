import { startFakeLlm, type FakeLlmServer, type FakeToolCall, type RecordedRequest } from './llm-wire-servers.js';
import { ollamaModelStore, type OllamaModelStore } from './ollama-models.js';

/**
 * A scripted chat model for agent-loop tests: a local HTTP server speaking the real OpenAI
 * chat-completions wire (JSON and SSE streams, `tools`/`tool_calls`) or Ollama's `/api/chat`
 * (NDJSON, `tools`), built on the wire servers of llm-wire-servers.ts. Each chat request
 * takes the next turn of the script; a turn may be a function of the request, to look at the
 * last tool result. The loop under test sees only a provider.
 */

/** One message of a request, the same for both wires. */
export interface ScriptMessage {
  role: string;
  content: string;
  toolCalls?: Array<{ name: string; arguments: Record<string, unknown> }>;
  toolCallId?: string;
}

export interface ScriptRequest {
  messages: ScriptMessage[];
  /** Names of the tools the request offered. */
  tools: string[];
  /** The content of the last `tool` message, if the request ends with tool results. */
  lastToolResult: string | undefined;
  raw: RecordedRequest;
}

export interface ScriptReply {
  text?: string;
  /** Ids are made up when left out. */
  toolCalls?: Array<{ id?: string; name: string; arguments: Record<string, unknown> }>;
  usage?: { in: number; out: number };
  /** Delay between streamed chunks (a slow model). */
  chunkDelayMs?: number;
}

export type ScriptTurn = ScriptReply | ((req: ScriptRequest) => ScriptReply);

export interface ScriptedModel {
  server: FakeLlmServer;
  /** Base URL as the provider config wants it (OpenAI's includes /v1). */
  url: string;
  /** The chat requests the model received, in order. */
  requests: ScriptRequest[];
  /** Replace what is left of the script. */
  script(...turns: ScriptTurn[]): void;
  /** Turns not used yet. */
  readonly remaining: number;
  /** Ollama wire only: the models it holds and can pull (`/api/tags`, `/api/pull`, `/api/delete`, `/api/show`). */
  models: OllamaModelStore | null;
  close(): Promise<void>;
}

const CHAT_PATHS = new Set(['/v1/chat/completions', '/api/chat']);

export async function startScriptedModel(wire: 'openai' | 'ollama', turns: ScriptTurn[] = [], opts: { model?: string } = {}): Promise<ScriptedModel> {
  let queue = [...turns];
  const requests: ScriptRequest[] = [];
  let calls = 0;
  const models = wire === 'ollama' ? ollamaModelStore() : null;
  const server = await startFakeLlm(wire, {
    ...(opts.model ? { model: opts.model } : {}),
    ...(models ? { intercept: models.intercept } : {}),
    respond: (raw) => {
      if (raw.method !== 'POST' || !CHAT_PATHS.has(raw.path)) return undefined;
      const req = view(raw);
      requests.push(req);
      const turn = queue.shift();
      if (!turn) throw new Error(`the script has no turn left for chat request ${requests.length}`);
      const r = typeof turn === 'function' ? turn(req) : turn;
      const toolCalls: FakeToolCall[] = (r.toolCalls ?? []).map((c) => ({ id: c.id ?? `call_${++calls}`, name: c.name, arguments: c.arguments }));
      return { kind: 'reply', text: r.text ?? '', toolCalls, usage: r.usage ?? { in: 20, out: 10 }, ...(r.chunkDelayMs ? { chunkDelayMs: r.chunkDelayMs } : {}) };
    },
  });
  return {
    server,
    url: server.url,
    requests,
    script: (...t) => void (queue = [...t]),
    get remaining() {
      return queue.length;
    },
    models,
    close: () => server.close(),
  };
}

/** The request as the script sees it, from either wire's body. */
function view(raw: RecordedRequest): ScriptRequest {
  const body = (raw.body ?? {}) as { messages?: unknown[]; tools?: Array<{ function?: { name?: string } }> };
  const messages = (body.messages ?? []).map((m) => toMessage(m as Record<string, unknown>));
  const last = messages[messages.length - 1];
  return {
    messages,
    tools: (body.tools ?? []).map((t) => t.function?.name ?? '?'),
    lastToolResult: last?.role === 'tool' ? last.content : undefined,
    raw,
  };
}

function toMessage(m: Record<string, unknown>): ScriptMessage {
  const calls = (m['tool_calls'] as Array<{ function: { name: string; arguments: string | Record<string, unknown> } }> | undefined) ?? [];
  return {
    role: String(m['role']),
    content: typeof m['content'] === 'string' ? m['content'] : '',
    ...(calls.length
      ? { toolCalls: calls.map((c) => ({ name: c.function.name, arguments: typeof c.function.arguments === 'string' ? (JSON.parse(c.function.arguments) as Record<string, unknown>) : c.function.arguments })) }
      : {}),
    ...(typeof m['tool_call_id'] === 'string' ? { toolCallId: m['tool_call_id'] } : {}),
  };
}
