import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import * as z from 'zod';
import { jsonSchemaOf, parseArgs } from './args.js';
import { boundText, sha256 } from './bound.js';
import { ToolError, type AgentTool, type ToolCallContext } from './tool.js';

const MAX_BYTES = 5 * 1024 * 1024;
/** What the model reads back of a body. */
const CONTENT_MAX = 64 * 1024;
/** Response headers worth showing; the rest (cookies, server internals) stay out of the transcript. */
const SHOWN_HEADERS = ['content-type', 'content-length', 'location', 'last-modified', 'etag', 'date', 'retry-after'];

const Args = z
  .object({
    url: z.string().url().describe('An http:// or https:// URL'),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().max(1_000_000).optional(),
    timeoutMs: z.number().int().min(100).max(120_000).default(30_000),
    maxBytes: z.number().int().min(1).max(MAX_BYTES).default(1024 * 1024).describe('Stop reading the body after this many bytes'),
  })
  .strict();

interface Fetched {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  truncated: boolean;
}

/**
 * HTTP requests through the sandbox's egress proxy only (`HTTP_PROXY`), so the manifest's
 * allow list and the brokered secret headers apply; a sandbox without a proxy has no web.
 */
export const httpTool: AgentTool = {
  name: 'http',
  description: 'Make an HTTP request (through the flock\'s egress proxy, which allows only the hosts the manifest lists). Returns status, some headers and the body as text, with provenance (URL, status, sha256).',
  parameters: jsonSchemaOf(Args),
  async run(raw, ctx) {
    const started = performance.now();
    const args = parseArgs('http', Args, raw);
    const url = new URL(args.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolError(`only http and https URLs are allowed, not ${url.protocol}`);
    const proxyEnv = process.env['HTTP_PROXY'] ?? process.env['http_proxy'];
    if (!proxyEnv) throw new ToolError('this sandbox has no egress proxy (HTTP_PROXY is not set): its manifest allows no web access (network.egress or tools.http.allow)');
    const proxy = new URL(proxyEnv);
    const res = await fetchVia(proxy, url, args, ctx);
    const text = res.body.toString('utf8');
    const digest = sha256(res.body);
    const refusedByProxy = res.status === 403 && /^aiflock egress: refused/.test(text);
    const shownBody = boundText(text, CONTENT_MAX);
    const head = Object.entries(res.headers).map(([k, v]) => `${k}: ${v}`).join('\n');
    const provenance = `provenance: ${url.href} status ${res.status} sha256 ${digest}${res.truncated ? ` (of the first ${args.maxBytes} bytes)` : ''}`;
    return {
      content: refusedByProxy
        ? `refused by the egress proxy: ${text.trim()}. The manifest's allow list (network.egress or tools.http.allow) does not include this host.`
        : `HTTP ${res.status}\n${head}\n${provenance}\n\n${shownBody.text}${res.truncated ? `\n… body cut at ${args.maxBytes} bytes` : ''}`,
      summary: {
        ok: res.status < 400,
        durationMs: Math.round(performance.now() - started),
        urls: [url.href],
        exitCode: res.status,
        stdout: boundText(text).text,
        stdoutSha256: digest,
        truncated: res.truncated || shownBody.truncated,
        ...(refusedByProxy ? { error: `the egress proxy refused ${url.host}: not on the manifest's allow list` } : res.status >= 400 ? { error: `HTTP ${res.status}` } : {}),
      },
    };
  },
};

function fetchVia(proxy: URL, url: URL, args: z.output<typeof Args>, ctx: ToolCallContext): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new ToolError(`no complete answer from ${url.host} within ${args.timeoutMs} ms`)), args.timeoutMs);
    const onAbort = () => fail(new ToolError('the request was stopped: the task was cancelled or reached its deadline'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let req: ReturnType<typeof httpRequest> | null = null;
    let settled = false;
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      req?.destroy();
      reject(err);
    }
    const done = (f: Fetched) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      resolve(f);
    };
    const headers = { ...args.headers, host: url.host };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      res.on('data', (d: Buffer) => {
        if (truncated) return;
        const room = args.maxBytes - size;
        chunks.push(d.length <= room ? d : d.subarray(0, room));
        size += Math.min(d.length, room);
        if (d.length > room) {
          truncated = true;
          res.destroy();
          finish();
        }
      });
      const finish = () =>
        done({
          status: res.statusCode ?? 0,
          headers: Object.fromEntries(SHOWN_HEADERS.filter((h) => res.headers[h] !== undefined).map((h) => [h, String(res.headers[h])])),
          body: Buffer.concat(chunks),
          truncated,
        });
      res.on('end', finish);
      res.on('error', (e) => fail(new ToolError(`reading the answer of ${url.host} failed: ${e.message}`)));
    };
    const onError = (e: Error) => fail(new ToolError(`request to ${url.href} through the egress proxy failed: ${e.message}`));
    if (url.protocol === 'http:') {
      // Plain HTTP goes to the proxy with the absolute URL as the request target.
      req = httpRequest({ host: proxy.hostname, port: proxy.port || 80, method: args.method, path: url.href, headers }, onResponse);
      req.on('error', onError);
      req.end(args.body);
      return;
    }
    // HTTPS: a CONNECT tunnel through the proxy, then TLS end to end with the host.
    const tunnel = httpRequest({ host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: `${url.hostname}:${url.port || 443}`, headers: { host: `${url.hostname}:${url.port || 443}` } });
    req = tunnel;
    tunnel.on('error', onError);
    tunnel.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        return done({ status: res.statusCode ?? 0, headers: {}, body: Buffer.from(`aiflock egress: refused: CONNECT ${url.host} answered ${res.statusCode}`), truncated: false });
      }
      req = httpsRequest({ host: url.hostname, port: url.port || 443, method: args.method, path: `${url.pathname}${url.search}`, headers, createConnection: () => tlsConnect({ socket, servername: url.hostname }) }, onResponse);
      req.on('error', onError);
      req.end(args.body);
    });
    tunnel.end();
  });
}
