import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busRpc, LlmClient } from '@aiflock/agent';
import type { RpcRequest } from '@aiflock/core';
import { subjects, type LlmChatResult } from '@aiflock/protocol';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { JwtBusCredentials } from '../src/adapters/nats/jwt-credentials.js';
import { NatsBus } from '../src/adapters/nats/nats-bus.js';
import { NatsTrust } from '../src/adapters/nats/trust.js';

/**
 * Revoking an instance's credentials is a signed update of the agents account, and the server
 * (2.9.10) drops the reply routes of its service imports when it applies one. An answer to an
 * RPC, or a streamed model answer, that is on its way at that moment must still reach the
 * instance that asked: the flock's real trust chain, the daemon's bus, the agent SDK's clients.
 */
let dir: string;
let server: TestNatsServer;
let trust: NatsTrust;
let creds: JwtBusCredentials;
let bus: NatsBus;
const conns: NatsConnection[] = [];

/** Requests the daemon holds until the test lets them go (`releaseAll`). */
let releaseAll: () => void = () => undefined;
let gate = new Promise<void>((r) => (releaseAll = r));
const arrived: ((req: RpcRequest) => void)[] = [];

const RESULT: LlmChatResult = { text: 'ab', toolCalls: [], model: 'm', provider: 'p', finishReason: 'stop', usage: { tokensIn: 1, tokensOut: 2 }, costAiDollars: 0, correlationId: 'c' };

async function handle(req: RpcRequest): Promise<void> {
  const release = gate;
  arrived.shift()?.(req);
  if (req.service === 'test' && req.op === 'slow') {
    await release;
    req.respond({ ok: true, result: { answered: true } });
  } else if (req.service === 'llm' && req.op === 'stream') {
    req.respond({ type: 'chunk', seq: 0, chunk: { type: 'delta', text: 'a' } });
    await release;
    req.respond({ type: 'chunk', seq: 1, chunk: { type: 'delta', text: 'b' } });
    req.respond({ type: 'end', seq: 2, reply: { ok: true, result: RESULT } });
  } else req.respond({ ok: false, error: { code: 'rpc_unknown_op', message: 'no such op' } });
}

const nextRequest = () => new Promise<RpcRequest>((r) => arrived.push(r));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-rpc-update-'));
  trust = await NatsTrust.open(join(dir, 'trust.json'));
  server = await startNatsServer({ config: await trust.serverConfig(join(dir, 'resolver')) });
  creds = await JwtBusCredentials.open({ trust, dir: join(dir, 'credentials'), ttlSeconds: 3600, owner: { uid: process.getuid!(), gid: process.getgid!() }, log: () => undefined });
  await creds.start(server.url);
  bus = await NatsBus.connect({ url: server.url, log: () => undefined, authenticator: credsAuthenticator(new TextEncoder().encode((await trust.issueUser('daemon', {}, null)).creds)) });
  bus.onRpc(handle);
  await bus.start();
}, 60_000);

afterAll(async () => {
  releaseAll();
  for (const c of conns) await c.close().catch(() => undefined);
  await creds?.stop();
  await bus?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function instance(id: string): Promise<NatsConnection> {
  const { dir: at } = await creds.issue(id, 'echo');
  const nc = await connect({ servers: server.url, authenticator: credsAuthenticator(await readFile(join(at, 'nats.creds'))), inboxPrefix: subjects.inbox(id) });
  conns.push(nc);
  return nc;
}

/** A fresh hold: requests that arrive from now wait for the next `releaseAll`. */
function holdNext(): void {
  gate = new Promise<void>((r) => (releaseAll = r));
}

describe('RPC answers across an update of the agents account', () => {
  it('a unary answer sent after another instance was revoked reaches the caller', async () => {
    holdNext();
    const id = 'echo-aaaa0001';
    const nc = await instance(id);
    const other = 'echo-bbbb0002';
    await creds.issue(other, 'echo');
    const call = busRpc(nc, id, 8_000);
    const seen = nextRequest();
    const answer = call('test', 'slow', {}).then(
      (r) => ({ ok: r }),
      (e: unknown) => ({ failed: String(e) }),
    );
    expect((await seen).instanceId).toBe(id);
    await creds.revoke(other, 'scaled down');
    releaseAll();
    expect(await answer).toEqual({ ok: { answered: true } });
  }, 30_000);

  it('a streamed model answer goes on to its end across a revocation', async () => {
    holdNext();
    const id = 'echo-cccc0003';
    const nc = await instance(id);
    const other = 'echo-dddd0004';
    await creds.issue(other, 'echo');
    const s = new LlmClient(nc, id, subjects.inbox(id)).stream({ prompt: 'x' }, { timeoutMs: 5_000 });
    const got: string[] = [];
    const read = (async () => {
      for await (const c of s) {
        if (c.type !== 'delta') continue;
        got.push(c.text);
        if (got.length === 1) {
          // The first frame is in; the rest come after the account update.
          await creds.revoke(other, 'removed');
          releaseAll();
        }
      }
      return s.result;
    })().then(
      (r) => ({ ok: r.text }),
      (e: unknown) => ({ failed: String(e) }),
    );
    expect(await read).toEqual({ ok: 'ab' });
    expect(got).toEqual(['a', 'b']);
  }, 30_000);
});
