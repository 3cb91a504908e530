import type { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { RequestError, Server, type CustomResponse, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';
import { decideEgress, parseIpv4, type EgressRule } from '@aiflock/core';
import { hostGuard, type HostGuard } from './host-guard.js';

/** Who is behind a source address on the bridge, and what it may reach. */
export interface EgressClient {
  agent: string;
  instanceId: string;
  rules: readonly EgressRule[];
  /**
   * Brokered secrets for plain-HTTP requests to `host` (lower case): headers to add, and
   * whether the proxy must speak HTTPS upstream (upgrade mode).
   */
  credentialsFor(host: string): Promise<{ headers: Record<string, string>; tls: boolean }>;
}

/** One connection decision, allowed or denied; the audit log records these. */
export interface EgressEvent {
  ts: string;
  agent: string | null;
  instanceId: string | null;
  client: string;
  method: string;
  host: string;
  port: number;
  address: string | null;
  allowed: boolean;
  reason: string;
  /** Names of the headers the proxy added (never their values). */
  injected: string[];
  /** The agent spoke plain HTTP and the proxy spoke HTTPS upstream. */
  upgraded: boolean;
}

/** Where egress decisions go (structured log now; the audit log when it lands). */
export type EgressLog = (event: EgressEvent) => void;

export interface EgressProxyOptions {
  host: string;
  port: number;
  /** Sandboxes are identified by source address: they hold no capability to change it. */
  identify(address: string): Promise<EgressClient | undefined>;
  log: EgressLog;
  /** Name resolution (for tests); IPv4 only, every answer. */
  resolve?: (host: string) => Promise<string[]>;
  /** Extra trusted CAs for upgraded requests (tests); the system's are always trusted. */
  ca?: string | Buffer;
  /**
   * Addresses never connected to, whatever the rules say (default: this host's own, see
   * host-guard.ts). Only unit tests whose upstreams are on loopback replace it.
   */
  guard?: HostGuard;
}

/** How `identify` sees a client that came in over an instance's proxy socket. */
export const UNIX_CLIENT_PREFIX = 'unix:';

/** Upgraded responses are buffered: an upper bound keeps one agent from filling the daemon. */
const MAX_UPGRADED_BODY = 16 * 1024 * 1024;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

const resolve4 = async (host: string): Promise<string[]> => {
  if (parseIpv4(host) !== null) return [host];
  try {
    return (await lookup(host, { family: 4, all: true })).map((a) => a.address);
  } catch {
    return [];
  }
};

/**
 * A lookup that only ever answers the address already vetted: no second, different answer. It
 * is what the connection asks right before it connects, so the host guard runs here once more.
 */
function pinnedLookup(address: string, guard: HostGuard): typeof dnsLookup {
  return ((_host: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === 'function' ? options : callback) as (err: Error | null, a: string | LookupAddress[], f?: number) => void;
    const refused = guard(address);
    if (refused) return cb(Object.assign(new Error(`aiflock egress: refused: ${refused}`), { code: 'EACCES' }), '', 4);
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
    if (all) cb(null, [{ address, family: 4 }]);
    else cb(null, address, 4);
  }) as typeof dnsLookup;
}

/**
 * The flock's egress proxy (proxy-chain, a maintained HTTP/CONNECT proxy library): listens on
 * the bridge gateway, refuses every client that is not a known sandbox with egress rules,
 * resolves each destination itself, checks the allow-list on the resolved address, pins the
 * connection to that address, and reports every decision.
 */
export class EgressProxy {
  private readonly server: Server;
  private readonly resolve: (host: string) => Promise<string[]>;
  private readonly guard: HostGuard;

  constructor(private readonly opts: EgressProxyOptions) {
    this.resolve = opts.resolve ?? resolve4;
    this.guard = opts.guard ?? hostGuard();
    this.server = new Server({
      host: opts.host,
      port: opts.port,
      verbose: false,
      authRealm: 'aiflock egress',
      prepareRequestFunction: (o) => this.prepare(o),
    });
    // A client that drops mid-request must not take the daemon down.
    this.server.on('requestFailed', () => {});
  }

  async listen(): Promise<number> {
    await this.server.listen();
    return this.server.port;
  }

  get port(): number {
    return this.server.port;
  }

  async close(): Promise<void> {
    // A proxy that only takes handed-over connections (vm guests) never listened: end those.
    if (!this.server.server.listening) return this.server.closeConnections();
    await this.server.close(true);
  }

  /**
   * A connection that arrived on an instance's own proxy socket (operator sandboxes have no
   * network: the daemon relays a Unix socket only that sandbox sees). The client is named by
   * the socket it came in on, `unix:<instanceId>`, which no IP address can spell; `identify`
   * receives that name. (proxy-chain drops connections without a remote address, hence the
   * own property rather than a side table.)
   */
  accept(socket: Socket, instanceId: string): void {
    Object.defineProperty(socket, 'remoteAddress', { value: `${UNIX_CLIENT_PREFIX}${instanceId}`, configurable: true });
    this.server.server.emit('connection', socket);
  }

  private async prepare(o: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> {
    const clientAddr = (o.request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const host = o.hostname.replace(/^\[|\]$/g, '');
    const base = { ts: new Date().toISOString(), client: clientAddr, method: o.request.method ?? '?', host, port: o.port };
    const client = await this.opts.identify(clientAddr);
    const deny = (reason: string, address: string | null = null): never => {
      this.opts.log({ ...base, agent: client?.agent ?? null, instanceId: client?.instanceId ?? null, address, allowed: false, reason, injected: [], upgraded: false });
      throw new RequestError(`aiflock egress: refused: ${reason}`, 403);
    };
    if (!client) deny(`${clientAddr} is not a sandbox with egress rules`);
    // An IPv6 literal would be dialled as written, past the pinned lookup: the proxy is IPv4 only.
    if (host.includes(':')) deny(`${host} is an IPv6 address; the egress proxy connects to IPv4 only`);
    const creds = o.isHttp ? await client!.credentialsFor(host.toLowerCase()) : { headers: {}, tls: false };
    // Upgrade mode: http://host/x from the agent becomes https://host:443/x (or its explicit port).
    const upstreamPort = creds.tls ? (explicitPort(o.request.url) ?? 443) : o.port;
    base.port = upstreamPort; // what is decided and logged is where the proxy would connect
    const addresses = await this.resolve(host);
    // The host itself is never a destination: checked on every answer, before the rules.
    for (const address of addresses) {
      const refused = this.guard(address);
      if (refused) deny(`${host} resolves to ${address}: ${refused}`, address);
    }
    const decision = decideEgress(client!.rules, host, upstreamPort, addresses);
    if (!decision.allowed) deny(decision.reason);

    const injected = Object.keys(creds.headers).length > 0 ? this.injectHeaders(o.request, creds.headers) : [];
    this.opts.log({ ...base, agent: client!.agent, instanceId: client!.instanceId, address: decision.address!, allowed: true, reason: decision.reason, injected, upgraded: creds.tls });
    if (creds.tls) return { customResponseFunction: () => this.forwardOverTls(o.request, host, upstreamPort, decision.address!) };
    return { dnsLookup: pinnedLookup(decision.address!, this.guard) };
  }

  /**
   * The upstream half of upgrade mode: the same request over TLS to the vetted address, the
   * certificate checked against the host's name. Answers 502 when the upstream fails.
   */
  private async forwardOverTls(req: IncomingMessage, host: string, port: number, address: string): Promise<CustomResponse> {
    const body: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) body.push(chunk);
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (!HOP_BY_HOP.has(name)) headers[name] = headers[name] ? `${headers[name]}, ${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1]!;
    }
    headers['host'] = port === 443 ? host : `${host}:${port}`;
    const url = new URL(req.url ?? '/', 'http://x');
    const refused = this.guard(address);
    if (refused) return { statusCode: 403, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `aiflock egress: refused: ${refused}` };
    try {
      return await new Promise<CustomResponse>((resolve, reject) => {
        const up = httpsRequest(
          { host: address, servername: host, port, method: req.method, path: `${url.pathname}${url.search}`, headers, ca: this.opts.ca ? [...rootCertificates, this.opts.ca.toString()] : undefined, timeout: 30_000 },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > MAX_UPGRADED_BODY) return up.destroy(new Error(`response larger than ${MAX_UPGRADED_BODY} bytes`));
              chunks.push(c);
            });
            res.on('end', () => {
              const out: Record<string, string> = {};
              for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'content-length') out[k] = Array.isArray(v) ? v.join(', ') : v;
              resolve({ statusCode: res.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) });
            });
            res.on('error', reject);
          },
        );
        up.on('timeout', () => up.destroy(new Error('upstream timed out')));
        up.on('error', reject);
        up.end(Buffer.concat(body));
      });
    } catch (err) {
      return { statusCode: 502, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `aiflock egress: HTTPS to ${host}:${port} failed: ${(err as Error).message}` };
    }
  }

  /**
   * Plain HTTP only: the request is visible here. Over CONNECT (HTTPS) the proxy sees bytes it
   * cannot change, so credentials for HTTPS APIs need the agent to speak HTTP to the proxy
   * (upgrade mode then speaks HTTPS upstream). A header the sandbox sent under the same name
   * is replaced, never merged.
   */
  private injectHeaders(req: IncomingMessage, headers: Record<string, string>): string[] {
    const names = Object.keys(headers);
    const lower = new Set(names.map((n) => n.toLowerCase()));
    const kept: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (!lower.has(req.rawHeaders[i]!.toLowerCase())) kept.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    for (const [name, value] of Object.entries(headers)) kept.push(name, value);
    req.rawHeaders.splice(0, req.rawHeaders.length, ...kept);
    return names;
  }
}

/** The port written in an absolute request URL, or null when it is the scheme's default. */
function explicitPort(url: string | undefined): number | null {
  try {
    const port = new URL(url ?? '').port;
    return port ? Number(port) : null;
  } catch {
    return null;
  }
}
