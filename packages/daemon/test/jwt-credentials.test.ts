import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { JwtBusCredentials } from '../src/adapters/nats/jwt-credentials.js';
import { NatsTrust } from '../src/adapters/nats/trust.js';

/**
 * Per-instance credentials against a real nats-server configured from the flock's trust
 * chain: short-lived credentials are renewed in place so a live instance keeps its bus,
 * quarantine suspends and release restores, and revocations survive a restart of the
 * control plane.
 */
let dir: string;
let server: TestNatsServer;
let trust: NatsTrust;
const conns: NatsConnection[] = [];
const ID = 'renew-aaaa1111';

const open = (ttlSeconds: number) =>
  JwtBusCredentials.open({ trust, dir: join(dir, 'credentials'), ttlSeconds, owner: { uid: process.getuid!(), gid: process.getgid!() }, log: () => undefined });

/** Connect the way the agent runtime does: the creds file is re-read on every (re)connect. */
async function asInstance(file: string): Promise<NatsConnection> {
  const { readFileSync } = await import('node:fs');
  const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(() => readFileSync(file)), inboxPrefix: subjects.inbox(ID), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  conns.push(nc);
  return nc;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-creds-'));
  trust = await NatsTrust.open(join(dir, 'trust.json'));
  server = await startNatsServer({ config: await trust.serverConfig(join(dir, 'resolver')) });
});

afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('per-instance bus credentials', () => {
  it('renews short-lived credentials in place: the instance outlives its first JWT', async () => {
    const creds = await open(4);
    await creds.start(server.url);
    try {
      const issued = await creds.issue(ID, 'renew');
      const file = join(issued.dir, 'nats.creds');
      const first = await readFile(file, 'utf8');
      const nc = await asInstance(file);
      // Past the first JWT's expiry the server drops it; the runtime reconnects with the renewed file.
      await new Promise((r) => setTimeout(r, 6_500));
      expect(await readFile(file, 'utf8')).not.toBe(first);
      const admin = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await trust.issueUser('t', {}, 60)).creds)) });
      conns.push(admin);
      const got = admin.subscribe(subjects.heartbeat(ID), { max: 1 });
      await admin.flush();
      await eventuallyTrue(async () => {
        if (nc.isClosed()) return false;
        nc.publish(subjects.heartbeat(ID), new Uint8Array([1]));
        await nc.flush().catch(() => undefined);
        return got.getReceived() >= 1;
      });
      expect(nc.isClosed()).toBe(false);
    } finally {
      await creds.stop();
    }
  }, 30_000);

  it('suspends on quarantine and restores with a fresh key; revocations outlive a control-plane restart', async () => {
    let creds = await open(3600);
    await creds.start(server.url);
    const issued = await creds.issue('quar-bbbb2222', 'quar');
    const file = join(issued.dir, 'nats.creds');
    const before = await readFile(file);
    const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(before), reconnect: false });
    const closed = nc.closed();
    await creds.suspend('quar-bbbb2222');
    await closed;
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    await creds.stop();
    // A new control plane (daemon restart) still refuses the suspended key ...
    creds = await open(3600);
    await creds.start(server.url);
    await expect(connect({ servers: server.url, authenticator: credsAuthenticator(before), reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    // ... issuing again (it rebuilds a joined node's instance) gives its place and nothing to use ...
    expect((await creds.issue('quar-bbbb2222', 'quar')).dir).toBe(issued.dir);
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    // ... and release hands out a new one in the same directory.
    await creds.restore('quar-bbbb2222');
    const after = await readFile(file);
    expect(after.toString()).not.toBe(before.toString());
    const again = await connect({ servers: server.url, authenticator: credsAuthenticator(after), reconnect: false });
    conns.push(again);
    expect(again.isClosed()).toBe(false);
    await creds.revoke('quar-bbbb2222', 'test over');
    await creds.stop();
  }, 30_000);

  it('retain cuts off every instance that is gone at once, and leaves the live ones connected', async () => {
    const lines: string[] = [];
    const creds = await JwtBusCredentials.open({ trust, dir: join(dir, 'credentials'), ttlSeconds: 3600, owner: { uid: process.getuid!(), gid: process.getgid!() }, log: (_l, msg) => void lines.push(msg) });
    await creds.start(server.url);
    try {
      const ids = ['gone-cccc0001', 'gone-cccc0002', 'gone-cccc0003', 'live-cccc0004'];
      const dirs: string[] = [];
      const conn = async (id: string) => {
        const { dir: at } = await creds.issue(id, id.split('-')[0]!);
        dirs.push(at);
        const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(await readFile(join(at, 'nats.creds'))), reconnect: false });
        conns.push(nc);
        return nc;
      };
      const ncs: NatsConnection[] = [];
      for (const id of ids) ncs.push(await conn(id));
      await creds.retain(new Set(['live-cccc0004']));
      // Every gone one's connection is closed by the server, the live one's stays.
      await Promise.all(ncs.slice(0, 3).map((nc) => nc.closed()));
      await ncs[3]!.flush();
      expect(ncs[3]!.isClosed()).toBe(false);
      expect(lines.filter((l) => l.startsWith('revoked the bus credentials of gone-'))).toHaveLength(3);
      expect(lines.filter((l) => l.includes('live-cccc0004') && l.startsWith('revoked'))).toEqual([]);
      // Nothing is left to use: their credentials directories are gone, the live one's stays.
      expect(dirs.map((d) => existsSync(d))).toEqual([false, false, false, true]);
    } finally {
      await creds.stop();
    }
  }, 30_000);
});

describe('operator credentials (aiflock nats creds)', () => {
  it('are listed, and once revoked cannot connect or publish; the revocation outlives a control-plane restart', async () => {
    let creds = await open(3600);
    await creds.start(server.url);
    try {
      const issued = await creds.adminCreds('leaked-laptop', 86_400);
      const file = new TextEncoder().encode(issued.creds);
      expect((await creds.listAdminCreds()).find((r) => r.id === issued.id)).toMatchObject({ name: 'leaked-laptop', revoked: false });
      const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(file), reconnect: false });
      const watcher = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await trust.issueUser('watcher', {}, 60)).creds)) });
      conns.push(watcher);
      const got = watcher.subscribe('probe.>');
      await watcher.flush();
      nc.publish('probe.before', new Uint8Array([1]));
      await nc.flush();
      await eventuallyTrue(async () => got.getReceived() === 1);
      const closed = nc.closed();
      expect(await creds.revokeAdminCreds(issued.id)).toMatchObject({ id: issued.id, revoked: true });
      // The live connection is cut, and the file is refused from then on, also by a restarted control plane.
      await closed;
      expect(nc.isClosed()).toBe(true);
      await creds.stop();
      creds = await open(3600);
      await creds.start(server.url);
      await expect(connect({ servers: server.url, authenticator: credsAuthenticator(file), reconnect: false })).rejects.toThrow(/Authorization Violation/i);
      expect(got.getReceived()).toBe(1);
      expect((await creds.listAdminCreds()).find((r) => r.id === issued.id)?.revoked).toBe(true);
      // An id nobody was issued changes nothing.
      expect(await creds.revokeAdminCreds('UNOTAKEY')).toBeNull();
    } finally {
      await creds.stop();
    }
  }, 30_000);

  it('limit what an instance may send: a message over the JWT payload limit is refused by the server', async () => {
    const small = await JwtBusCredentials.open({ trust, dir: join(dir, 'credentials-small'), ttlSeconds: 3600, limits: { payload: 64 * 1024 }, owner: { uid: process.getuid!(), gid: process.getgid!() }, log: () => undefined });
    await small.start(server.url);
    try {
      const issued = await small.issue('flood-dddd4444', 'flood');
      const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(await readFile(join(issued.dir, 'nats.creds'))), inboxPrefix: subjects.inbox('flood-dddd4444'), reconnect: false });
      conns.push(nc);
      // The server tells the client its limit, so the client refuses before sending; either way nothing that big goes out.
      expect(nc.info?.max_payload).toBe(64 * 1024);
      expect(() => nc.publish(subjects.events('flood-dddd4444'), new Uint8Array(200 * 1024))).toThrow(/MAX_PAYLOAD_EXCEEDED|max_payload|payload/i);
    } finally {
      await small.stop();
    }
  }, 30_000);
});

describe('credentials bound to the sandbox’s address', () => {
  it('work from nowhere until bound, then only from the bound address; renewal keeps the binding', async () => {
    const id = 'bound-eeee5555';
    const creds = await JwtBusCredentials.open({
      trust,
      dir: join(dir, 'credentials-bound'),
      ttlSeconds: 4,
      owner: { uid: process.getuid!(), gid: process.getgid!() },
      sourceBinding: { relayAddress: '127.0.0.1' },
      log: () => undefined,
    });
    await creds.start(server.url);
    const attempt = async () => {
      const file = await readFile(join(dir, 'credentials-bound', 'instances', id, 'nats.creds'));
      return connect({ servers: server.url, authenticator: credsAuthenticator(file), reconnect: false }).then(
        async (nc) => (await nc.close(), 'connected'),
        (err: unknown) => String(err),
      );
    };
    try {
      await creds.issue(id, 'bound');
      expect(await attempt()).toMatch(/Authorization Violation/i);
      // Another address (the test connects from loopback).
      await creds.bind(id, '10.99.0.7');
      expect(await attempt()).toMatch(/Authorization Violation/i);
      // Relayed by the daemon: the relay's address.
      await creds.bind(id, null);
      expect(await attempt()).toBe('connected');
      // Past half its 4 s life it is renewed, still bound.
      const before = await readFile(join(dir, 'credentials-bound', 'instances', id, 'nats.creds'), 'utf8');
      await eventuallyTrue(async () => (await readFile(join(dir, 'credentials-bound', 'instances', id, 'nats.creds'), 'utf8')) !== before);
      expect(await attempt()).toBe('connected');
      await creds.bind(id, '10.99.0.8');
      expect(await attempt()).toMatch(/Authorization Violation/i);
    } finally {
      await creds.stop();
    }
  }, 30_000);
});

describe('a revocation while the servers are away', () => {
  it('is pushed as soon as they answer again', async () => {
    const own = await mkdtemp(join(tmpdir(), 'aiflock-creds-away-'));
    const t = await NatsTrust.open(join(own, 'trust.json'));
    const config = await t.serverConfig(join(own, 'resolver'));
    let srv = await startNatsServer({ config });
    const port = srv.port;
    const creds = await JwtBusCredentials.open({ trust: t, dir: join(own, 'credentials'), ttlSeconds: 3600, owner: { uid: process.getuid!(), gid: process.getgid!() }, log: () => undefined });
    await creds.start(srv.url);
    try {
      const issued = await creds.issue('away-cccc3333', 'away');
      const file = await readFile(join(issued.dir, 'nats.creds'));
      await srv.stop();
      // Revoking does not fail while nobody answers ...
      await creds.revoke('away-cccc3333', 'removed while the bus was down');
      // ... and once a server is back on the same address (with its original config, which
      // does not know the revocation), the key is refused within moments.
      srv = await startNatsServer({ config, port });
      await eventuallyTrue(async () => {
        const nc = await connect({ servers: srv.url, authenticator: credsAuthenticator(file), reconnect: false }).catch(() => null);
        if (!nc) return true;
        await nc.close();
        return false;
      }, 15_000);
    } finally {
      await creds.stop();
      await srv.stop();
      await rm(own, { recursive: true, force: true });
    }
  }, 40_000);
});

async function eventuallyTrue(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('condition never held');
}
