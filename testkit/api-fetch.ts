export interface ApiInit {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test code reads arbitrary JSON bodies
  body: any;
}

/** One call to a flock's HTTP API as a test makes it: JSON in, JSON (or text, e.g. /metrics) out. */
export async function apiFetch(baseUrl: string, path: string, init: ApiInit, token: string | null | undefined): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text; // not JSON, e.g. /metrics
  }
  return { status: res.status, headers: res.headers, body };
}
