import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEgressRules } from '@aiflock/core';
import { EgressProxy, type EgressClient, type EgressEvent } from '../../src/adapters/egress-proxy/egress-proxy.js';
import { hostGuard } from '../../src/adapters/egress-proxy/host-guard.js';

// A real proxy on loopback in front of real upstream servers on loopback. The "sandbox" is
// this process: the proxy identifies clients by source address, here 127.0.0.1.
const events: EgressEvent[] = [];
let proxy: EgressProxy;
let upstream: Server;
let upstreamPort: number;
let tcpPort: number;
const seen: IncomingHttpHeaders[] = [];
let client: EgressClient | undefined;
/** Called for every connection the loopback TCP upstream accepts. */
const tcpAccepts: (() => void)[] = [];

// Test DNS: names we control, resolving to loopback or to a public documentation-free address.
const DNS: Record<string, string[]> = {
  'api.allowed.test': ['127.0.0.1'],
  'rebind.allowed.test': ['127.0.0.1'],
  'mixed.allowed.test': ['93.184.216.34', '10.0.0.7'],
  'metadata.allowed.test': ['169.254.169.254'],
  // Never connected to: every test that names it is refused before any packet leaves.
  'public.allowed.test': ['93.184.216.34'],
  'api.secure.test': ['127.0.0.1'],
};
const FIXTURES = join(import.meta.dirname, 'fixtures');
const CERT = readFileSync(join(FIXTURES, 'test-only.crt'));
let tlsUpstream: HttpsServer;
let tlsPort: number;
const seenTls: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];

function viaProxy(target: string, headers: Record<string, string> = {}, method = 'GET', payload?: string): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxy.port, method, path: target, headers: { host: new URL(target).host, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Raw CONNECT; returns the status line the proxy (by default the shared one) answered. */
function connectVia(authority: string, proxyPort = proxy.port): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(proxyPort, '127.0.0.1', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.split('\r\n')[0]!);
      }
    });
    s.on('error', reject);
  });
}

const withRules = (rules: string[], headers: Record<string, Record<string, string>> = {}, tls: string[] = []) => {
  client = {
    agent: 'scout',
    instanceId: 'scout-abcd1234',
    rules: parseEgressRules(rules),
    credentialsFor: async (h) => ({ headers: headers[h] ?? {}, tls: tls.includes(h) }),
  };
};

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.end(`hello from upstream ${req.url}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  const tcp = createTcpServer((s) => {
    for (const f of tcpAccepts) f();
    s.end('tcp hello');
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  tcpPort = (tcp.address() as AddressInfo).port;
  tlsUpstream = createHttpsServer({ key: readFileSync(join(FIXTURES, 'test-only.key')), cert: CERT }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seenTls.push({ url: req.url ?? '', headers: req.headers, body });
      res.setHeader('x-upstream', 'tls');
      res.end(`secure hello ${req.method} ${req.url}`);
    });
  });
  await new Promise<void>((r) => tlsUpstream.listen(0, '127.0.0.1', r));
  tlsPort = (tlsUpstream.address() as AddressInfo).port;
  proxy = new EgressProxy({
    ca: CERT,
    host: '127.0.0.1',
    port: 0,
    identify: async (addr) => (addr === '127.0.0.1' ? client : undefined),
    log: (e) => events.push(e),
    resolve: async (host) => DNS[host] ?? (/^\d+\.\d+\.\d+\.\d+$/.test(host) ? [host] : []),
    // These upstreams stand on loopback, which the real guard refuses (tested below, and
    // end to end in test/isolation/egress-host.test.ts): here only 127.0.0.1 is let through.
    guard: (a) => (a === '127.0.0.1' ? null : hostGuard()(a)),
  });
  await proxy.listen();
});

afterAll(async () => {
  await proxy.close();
  upstream.close();
  tlsUpstream.close();
});

const last = () => events[events.length - 1]!;

describe('egress proxy', () => {
  it('refuses a client that has no egress rules, and logs it', async () => {
    client = undefined;
    const r = await viaProxy(`http://127.0.0.1:${upstreamPort}/x`);
    expect(r.status).toBe(403);
    expect(last()).toMatchObject({ allowed: false, agent: null, host: '127.0.0.1', port: upstreamPort });
    withRules([]);
    expect((await viaProxy(`http://127.0.0.1:${upstreamPort}/x`)).status).toBe(403);
    expect(last().reason).toMatch(/no egress rules/);
  });

  it('reaches a host a CIDR rule allows (plain HTTP and CONNECT), and logs it', async () => {
    withRules(['127.0.0.1/32']);
    const r = await viaProxy(`http://127.0.0.1:${upstreamPort}/ok`);
    expect(r).toMatchObject({ status: 200, body: 'hello from upstream /ok' });
    expect(last()).toMatchObject({ allowed: true, agent: 'scout', instanceId: 'scout-abcd1234', address: '127.0.0.1', method: 'GET' });
    expect(await connectVia(`127.0.0.1:${tcpPort}`)).toMatch(/^HTTP\/1\.1 200/);
    expect(last()).toMatchObject({ allowed: true, method: 'CONNECT', port: tcpPort });
  });

  it('refuses a domain that is not on the list', async () => {
    withRules(['api.allowed.test:' + 1, '127.0.0.1/32']);
    const r = await viaProxy('http://evil.example.com/');
    expect(r.status).toBe(403);
    expect(last()).toMatchObject({ allowed: false, host: 'evil.example.com' });
  });

  it('refuses a listed name that resolves to a private or loopback address', async () => {
    withRules([`api.allowed.test:${upstreamPort}`, 'rebind.allowed.test', 'mixed.allowed.test', 'metadata.allowed.test']);
    const r = await viaProxy(`http://api.allowed.test:${upstreamPort}/`);
    expect(r.status).toBe(403);
    expect(last().reason).toMatch(/127\.0\.0\.1 \(loopback/);
    expect((await viaProxy('http://mixed.allowed.test/')).status).toBe(403);
    expect(last().reason).toMatch(/10\.0\.0\.7 \(private/);
    expect((await viaProxy('http://metadata.allowed.test/latest/meta-data/')).status).toBe(403);
    expect(last().reason).toMatch(/link-local/);
    // and by literal address
    expect((await viaProxy('http://169.254.169.254/latest/meta-data/')).status).toBe(403);
    expect(seen.length).toBe(1); // only the earlier allowed request ever reached the upstream
  });

  it('refuses CONNECT to a port the rule does not name', async () => {
    withRules(['public.allowed.test']);
    expect(await connectVia('public.allowed.test:22')).toMatch(/^HTTP\/1\.1 403/);
    expect(last()).toMatchObject({ allowed: false, method: 'CONNECT', host: 'public.allowed.test', port: 22 });
    expect(last().reason).toMatch(/matches no egress rule/);
    expect(await connectVia('evil.example.com:22')).toMatch(/^HTTP\/1\.1 403/);
  });

  it('adds a brokered credential to plain HTTP, replacing what the sandbox sent, and logs only its name', async () => {
    withRules(['127.0.0.1/32'], { '127.0.0.1': { Authorization: 'Bearer s3cr3t-value' } });
    seen.length = 0;
    const r = await viaProxy(`http://127.0.0.1:${upstreamPort}/api`, { authorization: 'Bearer forged', 'x-keep': '1' });
    expect(r.status).toBe(200);
    expect(seen[0]!['authorization']).toBe('Bearer s3cr3t-value');
    expect(seen[0]!['x-keep']).toBe('1');
    expect(last()).toMatchObject({ allowed: true, injected: ['Authorization'] });
    expect(JSON.stringify(events)).not.toContain('s3cr3t-value');
  });
});

describe('egress proxy: upgrade mode (agent speaks HTTP, proxy speaks HTTPS upstream)', () => {
  it('adds the credential and carries method, path, query and body over TLS, checking the certificate against the name', async () => {
    withRules(['127.0.0.1/32'], { 'api.secure.test': { Authorization: 'Bearer tls-secret' } }, ['api.secure.test']);
    seenTls.length = 0;
    const r = await viaProxy(`http://api.secure.test:${tlsPort}/v1/things?q=1`, { authorization: 'Bearer forged', 'content-type': 'application/json' }, 'POST', '{"a":1}');
    expect(r.status).toBe(200);
    expect(r.body).toBe('secure hello POST /v1/things?q=1');
    expect(r.headers['x-upstream']).toBe('tls');
    expect(seenTls).toEqual([{ url: '/v1/things?q=1', body: '{"a":1}', headers: expect.objectContaining({ authorization: 'Bearer tls-secret', host: `api.secure.test:${tlsPort}` }) }]);
    expect(last()).toMatchObject({ allowed: true, upgraded: true, port: tlsPort, injected: ['Authorization'] });
    expect(JSON.stringify(events)).not.toContain('tls-secret');
  });

  it('without the port in the URL goes to 443, which the rules must allow', async () => {
    withRules(['api.secure.test:8443'], { 'api.secure.test': { Authorization: 'x' } }, ['api.secure.test']);
    expect((await viaProxy('http://api.secure.test/')).status).toBe(403);
    expect(last()).toMatchObject({ allowed: false, port: 443 });
  });

  it('a certificate that does not match the name fails the request (502), nothing is sent in clear', async () => {
    // 127.0.0.1 serves a certificate for api.secure.test only.
    withRules(['127.0.0.1/32'], { '127.0.0.1': { Authorization: 'Bearer tls-secret' } }, ['127.0.0.1']);
    seenTls.length = 0;
    const r = await viaProxy(`http://127.0.0.1:${tlsPort}/`);
    expect(r.status).toBe(502);
    expect(r.body).toMatch(/HTTPS to 127\.0\.0\.1:\d+ failed/);
    expect(seenTls).toEqual([]);
  });
});

describe('egress proxy: never the host itself, whatever the rules say', () => {
  it('refuses every spelling of loopback and this host, even with rules naming them, before connecting', async () => {
    const guarded = new EgressProxy({
      host: '127.0.0.1',
      port: 0,
      identify: async (addr) => (addr === '127.0.0.1' ? client : undefined),
      log: (e) => events.push(e),
    });
    await guarded.listen();
    try {
      // Rules that would allow all of it, as a careless deploy would write them.
      withRules(['0.0.0.0/0', '127.0.0.0/8', 'localhost:' + tcpPort]);
      let accepted = 0;
      tcpAccepts.push(() => accepted++);
      const ownAddresses = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address));
      const spellings = ['127.0.0.1', '127.1.2.3', '0x7f000001', '2130706433', '0177.0.0.1', 'localhost', '0.0.0.0', '[::1]', '[::ffff:127.0.0.1]', '169.254.1.1', ...ownAddresses];
      for (const host of spellings) expect(await connectVia(`${host}:${tcpPort}`, guarded.port), host).toMatch(/^HTTP\/1\.1 403/);
      expect(accepted).toBe(0);
      expect(events.slice(-spellings.length).every((e) => !e.allowed)).toBe(true);
    } finally {
      await guarded.close();
    }
  });
});
