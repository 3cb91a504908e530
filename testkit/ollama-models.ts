import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { RecordedRequest } from './llm-wire-servers.js';

/**
 * Ollama's model management as a real server answers it, for a scripted Ollama-wire model:
 * `/api/tags` (what it holds), `/api/pull` (NDJSON progress: manifest, each layer's bytes,
 * verify, write, success; `{"error": ...}` in the stream for a name its registry lacks),
 * `/api/delete`, `/api/show`, and `/api/generate` without a prompt (loads a model: the
 * warm-up). The "registry" is the models a test offers; pulling copies one into the store.
 */
export interface OfferedModel {
  name: string;
  /** Layer sizes in bytes; the pull reports them in a few steps each. */
  layers?: number[];
  family?: string;
  parameterSize?: string;
  quantization?: string;
  /** Changes the digest: the same name published again (a new version upstream). */
  revision?: number;
}

export interface HeldModel extends Required<Omit<OfferedModel, 'revision'>> {
  digest: string;
  modifiedAt: string;
}

export interface OllamaModelStore {
  /** Models a pull can fetch, by name. */
  offer(m: OfferedModel): void;
  /** Put a model on the server as if pulled before the test. */
  hold(m: OfferedModel): HeldModel;
  held(): HeldModel[];
  /** The digest `/api/tags` reports for an offered model (bare hex, as Ollama does). */
  digestOf(m: OfferedModel): string;
  /** Models loaded by a request without a prompt, with the keep_alive each asked for. */
  loaded: Array<{ model: string; keepAlive: unknown }>;
  intercept(req: RecordedRequest, res: ServerResponse): boolean;
}

const withTag = (n: string) => (n.includes(':') ? n : `${n}:latest`);

export function ollamaModelStore(): OllamaModelStore {
  const offered = new Map<string, OfferedModel>();
  const store = new Map<string, HeldModel>();
  const loaded: OllamaModelStore['loaded'] = [];
  const digestOf = (m: OfferedModel) => createHash('sha256').update(`${withTag(m.name)}#${m.revision ?? 0}`).digest('hex');
  const hold = (m: OfferedModel): HeldModel => {
    const h: HeldModel = {
      name: withTag(m.name),
      layers: m.layers ?? [4096, 128],
      family: m.family ?? 'qwen2',
      parameterSize: m.parameterSize ?? '7.6B',
      quantization: m.quantization ?? 'Q4_K_M',
      digest: digestOf(m),
      modifiedAt: new Date().toISOString(),
    };
    store.set(h.name, h);
    return h;
  };
  const details = (h: HeldModel) => ({ parent_model: '', format: 'gguf', family: h.family, families: [h.family], parameter_size: h.parameterSize, quantization_level: h.quantization });
  const notFound = (res: ServerResponse, name: string) => send(res, 404, { error: `model '${name}' not found` });

  const intercept = (req: RecordedRequest, res: ServerResponse): boolean => {
    const body = (req.body ?? {}) as { model?: string; name?: string; prompt?: string; messages?: unknown; keep_alive?: unknown };
    const name = withTag(body.model ?? body.name ?? '');
    switch (`${req.method} ${req.path}`) {
      case 'GET /api/tags':
        send(res, 200, { models: [...store.values()].map((h) => ({ name: h.name, model: h.name, modified_at: h.modifiedAt, size: h.layers.reduce((a, b) => a + b, 0), digest: h.digest, details: details(h) })) });
        return true;
      case 'POST /api/pull':
        void pull(res, name, offered.get(name), hold);
        return true;
      case 'DELETE /api/delete':
        if (!store.delete(name)) notFound(res, body.model ?? body.name ?? '');
        else res.writeHead(200).end();
        return true;
      case 'POST /api/show': {
        const h = store.get(name);
        if (!h) notFound(res, body.model ?? body.name ?? '');
        else send(res, 200, { modelfile: `FROM ${h.name}\n`, parameters: 'stop "<|im_end|>"', template: '{{ .Prompt }}', details: details(h), model_info: { 'general.architecture': h.family, [`${h.family}.context_length`]: 32768 }, capabilities: ['completion', 'tools'], modified_at: h.modifiedAt });
        return true;
      }
      case 'POST /api/generate':
        // Only the load request (no prompt); a completion goes to the scripted model.
        if (body.prompt !== undefined) return false;
        if (!store.has(name)) send(res, 404, { error: `model "${body.model}" not found, try pulling it first` });
        else {
          loaded.push({ model: name, keepAlive: body.keep_alive });
          send(res, 200, { model: name, created_at: new Date().toISOString(), response: '', done: true, done_reason: 'load' });
        }
        return true;
      default:
        return false;
    }
  };
  return { offer: (m) => void offered.set(withTag(m.name), m), hold, held: () => [...store.values()], digestOf, loaded, intercept };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function pull(res: ServerResponse, name: string, offer: OfferedModel | undefined, hold: (m: OfferedModel) => HeldModel): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (o: unknown) => res.write(`${JSON.stringify(o)}\n`);
  line({ status: 'pulling manifest' });
  if (!offer) return void res.end(`${JSON.stringify({ error: 'pull model manifest: file does not exist' })}\n`);
  for (const [i, total] of (offer.layers ?? [4096, 128]).entries()) {
    const digest = `sha256:${createHash('sha256').update(`${name}#layer${i}`).digest('hex')}`;
    for (const completed of [0, Math.floor(total / 2), total]) {
      if (res.destroyed) return;
      line({ status: `pulling ${digest.slice(7, 19)}`, digest, total, completed });
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  line({ status: 'verifying sha256 digest' });
  line({ status: 'writing manifest' });
  hold(offer);
  line({ status: 'success' });
  res.end();
}
