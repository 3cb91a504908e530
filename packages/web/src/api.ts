import { loadSession } from './session.js';

/** An error answer of the API, `{error:{code,message,details,requestId}}`, kept whole for the UI. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();
/** Called when the API says the session is gone (expired, revoked, signed out elsewhere). */
export function onSignedOut(fn: Listener): () => void {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

const SAFE = new Set(['GET', 'HEAD']);

/**
 * Calls the API with the session cookie (same origin) and, on changes, the CSRF token.
 * Answers are JSON; errors become `ApiError` with the API's own message.
 */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const csrf = loadSession()?.csrfToken;
  if (!SAFE.has(method) && csrf) headers['x-csrf-token'] = csrf;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'unreachable', 'the daemon did not answer (offline?)');
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string; requestId?: string } } | undefined)?.error;
    const err = new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? `${method} ${path} answered ${res.status}`, e?.requestId);
    // Only a session held can end: a wrong token typed on the sign-in page is just refused.
    if ((res.status === 401 || e?.code === 'csrf_failed') && loadSession()) for (const fn of signedOutListeners) fn();
    throw err;
  }
  return body as T;
}

/** A WebSocket URL on this origin (the cookie goes with the upgrade; no token in the URL). */
export function wsUrl(path: string): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}${path}`;
}

/** Cents → "12.34" aiDollars. */
export function aiDollars(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** "12.34" aiDollars → cents, or an error message naming what is wrong. */
export function parseAiDollars(text: string): { cents: number } | { error: string } {
  const m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return { error: `"${text}" is not an amount of aiDollars such as 2 or 2.50` };
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
  if (cents < 1) return { error: 'the amount must be at least 0.01 aiDollars' };
  return { cents };
}
