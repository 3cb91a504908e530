import { ApiError } from '@aiflock/protocol';
import { EXIT } from './exit-codes.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const STATUS_EXIT: Record<number, number> = {
  400: EXIT.usage,
  401: EXIT.auth,
  403: EXIT.auth,
  404: EXIT.notFound,
  409: EXIT.conflict,
  413: EXIT.usage,
  415: EXIT.usage,
  429: EXIT.rateLimited,
};

/** A thin client of the daemon's HTTP API; errors carry the API's code and an exit code. */
export class ApiClient {
  /** `token` is asked for on each request: on `up`, the daemon writes it only once it starts. */
  constructor(
    readonly baseUrl: string,
    private readonly token: () => string | undefined = () => undefined,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<{ status: number; data: T }> {
    const res = await this.fetch(method, path, body, headers, signal);
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) throw apiFailure(res.status, data);
    return { status: res.status, data: data as T };
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path).then((r) => r.data);
  }

  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, body ?? {}, headers).then((r) => r.data);
  }

  /** POST a raw body (JSON lines for imports); the answer is JSON as usual. */
  async upload<T>(path: string, text: string, contentType: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...this.authHeader() }, body: text });
    } catch (err) {
      throw new CliError(`cannot reach the aiflock daemon at ${this.baseUrl} (${causeOf(err)}); start it with: aiflock up`, EXIT.unreachable);
    }
    const body = await res.text();
    const data = body ? (JSON.parse(body) as unknown) : undefined;
    if (!res.ok) throw apiFailure(res.status, data);
    return data as T;
  }

  /** The raw response, for downloads (export, backup); API errors still become CliErrors. */
  async download(path: string, signal?: AbortSignal): Promise<Response> {
    const res = await this.fetch('GET', path, undefined, {}, signal);
    if (!res.ok) throw apiFailure(res.status, await res.json().catch(() => undefined));
    return res;
  }

  /** Read an NDJSON stream line by line until it ends or `signal` aborts; a POST when `body` is given. */
  async *stream<T>(path: string, signal?: AbortSignal, body?: unknown): AsyncGenerator<T> {
    const res = await this.fetch(body === undefined ? 'GET' : 'POST', path, body, {}, signal);
    if (!res.ok) throw apiFailure(res.status, await res.json().catch(() => undefined));
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield JSON.parse(line) as T;
      }
    }
  }

  /** The Authorization header, for clients other than fetch (WebSocket streams). */
  authorization(): Record<string, string> {
    return this.authHeader();
  }

  private authHeader(): Record<string, string> {
    const token = this.token();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  private async fetch(method: string, path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...this.authHeader(), ...headers },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new CliError(`cannot reach the aiflock daemon at ${this.baseUrl} (${causeOf(err)}); start it with: aiflock up`, EXIT.unreachable);
    }
  }
}

export function apiFailure(status: number, data: unknown): CliError {
  const parsed = ApiError.safeParse(data);
  const exit = STATUS_EXIT[status] ?? EXIT.failure;
  if (!parsed.success) return new CliError(`the daemon answered HTTP ${status}`, exit);
  const e = parsed.data.error;
  const hint = status === 401 ? ' (set AIFLOCK_TOKEN, pass --token, or run on the daemon host where <data dir>/admin.token is read)' : '';
  return new CliError(`${e.message}${hint}`, exit, e.code, e.details);
}

function causeOf(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
}
