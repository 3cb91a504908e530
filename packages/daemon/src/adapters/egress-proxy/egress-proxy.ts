import type { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import { RequestError, Server, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';
import { decideEgress, parseIpv4, type EgressRule } from '@aiflock/core';

/** Who is behind a source address on the bridge, and what it may reach. */
export interface EgressClient {
  agent: string;
  instanceId: string;
  rules: readonly EgressRule[];
  /** Headers to add to plain-HTTP requests, by host (lower case): the brokered secrets. */
  headersFor(host: string): Promise<Record<string, string>>;
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
}

const resolve4 = async (host: string): Promise<string[]> => {
  if (parseIpv4(host) !== null) return [host];
  try {
    return (await lookup(host, { family: 4, all: true })).map((a) => a.address);
  } catch {
    return [];
  }
};

/** A lookup that only ever answers the address already vetted: no second, different answer. */
function pinnedLookup(address: string): typeof dnsLookup {
  return ((_host: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === 'function' ? options : callback) as (err: Error | null, a: string | LookupAddress[], f?: number) => void;
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

  constructor(private readonly opts: EgressProxyOptions) {
    this.resolve = opts.resolve ?? resolve4;
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
    await this.server.close(true);
  }

  private async prepare(o: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> {
    const clientAddr = (o.request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const host = o.hostname.replace(/^\[|\]$/g, '');
    const base = { ts: new Date().toISOString(), client: clientAddr, method: o.request.method ?? '?', host, port: o.port };
    const client = await this.opts.identify(clientAddr);
    const deny = (reason: string, address: string | null = null): never => {
      this.opts.log({ ...base, agent: client?.agent ?? null, instanceId: client?.instanceId ?? null, address, allowed: false, reason, injected: [] });
      throw new RequestError(`aiflock egress: refused: ${reason}`, 403);
    };
    if (!client) deny(`${clientAddr} is not a sandbox with egress rules`);
    const decision = decideEgress(client!.rules, host, o.port, await this.resolve(host));
    if (!decision.allowed) deny(decision.reason);

    const injected = o.isHttp ? await this.injectHeaders(o.request, client!, host) : [];
    this.opts.log({ ...base, agent: client!.agent, instanceId: client!.instanceId, address: decision.address!, allowed: true, reason: decision.reason, injected });
    return { dnsLookup: pinnedLookup(decision.address!) };
  }

  /**
   * Plain HTTP only: the request is visible here. Over CONNECT (HTTPS) the proxy sees bytes it
   * cannot change, so credentials for HTTPS APIs need the agent to speak HTTP to the proxy.
   * A header the sandbox sent under the same name is replaced, never merged.
   */
  private async injectHeaders(req: IncomingMessage, client: EgressClient, host: string): Promise<string[]> {
    const headers = await client.headersFor(host.toLowerCase());
    const names = Object.keys(headers);
    if (names.length === 0) return [];
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
