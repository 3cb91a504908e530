import { LlmProviderError, type CallOptions, type LlmErrorKind } from '@aiflock/core';
import { createParser } from 'eventsource-parser';

/** What a provider said about a failed request, ready to classify. */
export interface ProviderFailure {
  status: number;
  message: string;
  /** Provider's own error code or type, e.g. `context_length_exceeded`, `rate_limit_error`. */
  code?: string;
  retryAfter?: string | null;
}

/** Map an HTTP failure to the unified taxonomy. */
export function classify(provider: string, f: ProviderFailure): LlmProviderError {
  const text = `${f.code ?? ''} ${f.message}`.toLowerCase();
  let kind: LlmErrorKind;
  if (f.status === 401 || f.status === 403) kind = 'auth';
  else if (f.status === 429) kind = 'rate_limit';
  else if (f.status === 408 || f.status === 504) kind = 'timeout';
  else if (/context.?length|context window|too many tokens|maximum context|prompt is too long/.test(text)) kind = 'context_length';
  else if (/content.?policy|content.?filter|safety/.test(text)) kind = 'content_policy';
  else if (f.status >= 400 && f.status < 500) kind = 'validation';
  else kind = 'upstream';
  const retryAfterMs = parseRetryAfter(f.retryAfter);
  return new LlmProviderError(kind, provider, `${f.status}: ${f.message}`, { status: f.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * One HTTP call to a provider with the call's deadline. Network failures and the deadline
 * become classified errors; a non-2xx answer is classified with `readError`.
 */
export async function providerFetch(
  provider: string,
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: unknown },
  opts: CallOptions,
  readError: (status: number, body: string) => { message: string; code?: string },
): Promise<{ res: Response; signal: AbortSignal }> {
  const timeout = AbortSignal.timeout(Math.max(1, opts.timeoutMs));
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method,
      headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      signal,
    });
  } catch (err) {
    throw networkError(provider, err, timeout, opts.timeoutMs);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    const { message, code } = readError(res.status, text);
    throw classify(provider, { status: res.status, message, code, retryAfter: res.headers.get('retry-after') });
  }
  return { res, signal: timeout };
}

export function networkError(provider: string, err: unknown, timeout: AbortSignal, timeoutMs: number): LlmProviderError {
  if (timeout.aborted) return new LlmProviderError('timeout', provider, `no answer within ${timeoutMs} ms`);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return new LlmProviderError('upstream', provider, `${err instanceof Error ? err.message : String(err)}${cause}`);
}

export async function readJson<T>(provider: string, res: Response, timeout: AbortSignal, timeoutMs: number): Promise<T> {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw networkError(provider, err, timeout, timeoutMs);
  }
  return parseJson<T>(provider, text);
}

export function parseJson<T>(provider: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LlmProviderError('upstream', provider, `malformed JSON from the provider: ${text.slice(0, 120)}`);
  }
}

/** Body lines of an NDJSON stream (Ollama). */
export async function* ndjsonLines(provider: string, res: Response, timeout: AbortSignal, timeoutMs: number): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield line;
      }
    }
  } catch (err) {
    throw networkError(provider, err, timeout, timeoutMs);
  }
  if (buf.trim()) yield buf.trim();
}

/** Server-sent events of a stream (OpenAI, Anthropic), parsed by eventsource-parser. */
export async function* sseEvents(provider: string, res: Response, timeout: AbortSignal, timeoutMs: number): AsyncGenerator<{ event: string | undefined; data: string }> {
  const queue: Array<{ event: string | undefined; data: string }> = [];
  const parser = createParser({ onEvent: (e) => queue.push({ event: e.event, data: e.data }) });
  const decoder = new TextDecoder();
  try {
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(bytes, { stream: true }));
      while (queue.length > 0) yield queue.shift()!;
    }
  } catch (err) {
    throw networkError(provider, err, timeout, timeoutMs);
  }
  while (queue.length > 0) yield queue.shift()!;
}

/** Rough token count for providers that do not report usage: about four characters a token. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);
