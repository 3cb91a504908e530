import { OllamaError } from '@aiflock/protocol';
import { llmRoute } from '../../llm-access.js';
import type { RouteDoc } from '../../route-doc.js';
import type { FastifyInstance } from 'fastify';

/**
 * Ollama's clients read an error as `{"error": "<message>"}` (the official `ollama` npm client
 * puts that string in its `ResponseError`); the flock's envelope `{"error": {code, message}}`
 * showed there as "[object Object]". Every error these routes answer — refused auth, quota,
 * validation, an unknown model — is reshaped on its way out, keeping its HTTP status.
 */
export function ollamaErrorShape(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
    const message = envelopeMessage(payload);
    return message === undefined ? payload : JSON.stringify({ error: message });
  });
}

function envelopeMessage(payload: string): string | undefined {
  try {
    const body = JSON.parse(payload) as { error?: { message?: unknown } };
    return typeof body.error?.message === 'string' ? body.error.message : undefined;
  } catch {
    return undefined;
  }
}

/** One NDJSON line, the framing of every Ollama stream (a failure mid-stream is a line with `error`). */
export const ndjson = (o: unknown) => `${JSON.stringify(o)}\n`;

/** Route options of an Ollama-compatible route: the gateway's scope and errors, in Ollama's error shape. */
export const ollamaRoute = (doc: RouteDoc) => llmRoute({ ...doc, errorBody: OllamaError });
