import { FlockError } from '@aiflock/core';
import type { ModelPullProgress } from '@aiflock/protocol';
import { ndjsonLines } from './http.js';

/** A model as Ollama's `/api/tags` lists it. */
export interface OllamaModel {
  name: string;
  digest: string;
  sizeBytes: number;
  modifiedAt: string | null;
  family: string | null;
  parameterSize: string | null;
  quantization: string | null;
}

interface TagsBody {
  models?: Array<{ name?: string; model?: string; digest?: string; size?: number; modified_at?: string; details?: { family?: string; parameter_size?: string; quantization_level?: string } }>;
}

/** Ollama reports digests as bare hex; ours (and pins in the config) carry the `sha256:` prefix. */
export const normalDigest = (d: string) => (d.includes(':') ? d : `sha256:${d}`).toLowerCase();

const QUICK_MS = 15_000;

/**
 * The model-management half of Ollama's API (`/api/tags`, `/api/pull`, `/api/delete`,
 * `/api/generate` with no prompt to load a model), for `aiflock models` and the start-up
 * checks. Chat and embeddings stay in OllamaProvider; this is the operator's side.
 */
export class OllamaModels {
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(
    readonly provider: string,
    url: string,
    apiKey?: string,
  ) {
    this.base = url.replace(/\/+$/, '');
    this.headers = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  }

  get url(): string {
    return this.base;
  }

  async list(): Promise<OllamaModel[]> {
    const res = await this.call('GET', '/api/tags', undefined, AbortSignal.timeout(QUICK_MS));
    const body = (await res.json()) as TagsBody;
    return (body.models ?? []).map((m) => ({
      name: m.name ?? m.model ?? '?',
      digest: normalDigest(m.digest ?? ''),
      sizeBytes: m.size ?? 0,
      modifiedAt: m.modified_at ?? null,
      family: m.details?.family ?? null,
      parameterSize: m.details?.parameter_size ?? null,
      quantization: m.details?.quantization_level ?? null,
    }));
  }

  /**
   * Pull a model, yielding Ollama's progress lines as they come. An `error` line ends it with
   * a FlockError (Ollama answers 200 and then says so in the stream); `signal` stops it.
   */
  async *pull(name: string, signal: AbortSignal): AsyncGenerator<ModelPullProgress> {
    const res = await this.call('POST', '/api/pull', { model: name, stream: true }, signal, name);
    // Ended by the caller (the client went away) rather than by a deadline: a pull takes as long as it takes.
    for await (const line of ndjsonLines(this.provider, res, signal, 0)) {
      let p: ModelPullProgress;
      try {
        p = JSON.parse(line) as ModelPullProgress;
      } catch {
        throw this.upstream(`malformed pull progress: ${line.slice(0, 120)}`);
      }
      if (p.error) throw pullError(this.provider, name, p.error);
      yield p;
    }
  }

  async remove(name: string): Promise<void> {
    await this.call('DELETE', '/api/delete', { model: name }, AbortSignal.timeout(QUICK_MS), name);
  }

  /** Load a model into memory and keep it there for `keepAlive` (Ollama's `keep_alive`, e.g. "24h"). */
  async warm(name: string, keepAlive: string, timeoutMs: number): Promise<void> {
    await this.call('POST', '/api/generate', { model: name, keep_alive: keepAlive, stream: false }, AbortSignal.timeout(timeoutMs), name);
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, signal: AbortSignal, model?: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers: this.headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (err) {
      if (signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError') {
        throw new FlockError('upstream_timeout', `Ollama provider "${this.provider}" at ${this.base} did not answer ${path} in time`, { provider: this.provider });
      }
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw this.upstream(`${path}: ${err instanceof Error ? err.message : String(err)}${cause}`);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let message = text;
    try {
      message = String((JSON.parse(text) as { error?: unknown }).error ?? text);
    } catch {
      // not JSON: the text as it is
    }
    if (res.status === 404 && model) throw notFound(this.provider, model, message);
    throw this.upstream(`${path} answered ${res.status}: ${message || 'no body'}`);
  }

  private upstream(message: string): FlockError {
    return new FlockError('upstream_failed', `Ollama provider "${this.provider}" at ${this.base}: ${message}`, { provider: this.provider });
  }
}

const notFound = (provider: string, model: string, message: string) =>
  new FlockError('llm_local_model_not_found', `Ollama provider "${provider}" has no model "${model}"${message ? ` (${message})` : ''}`, { provider, model });

/** Ollama says "file does not exist" for a name its registry does not know. */
const pullError = (provider: string, model: string, message: string) =>
  /does not exist|not found/i.test(message) ? notFound(provider, model, message) : new FlockError('upstream_failed', `pulling "${model}" on Ollama provider "${provider}": ${message}`, { provider, model });
