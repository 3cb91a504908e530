import { connect, ErrorCode, JSONCodec, type NatsConnection } from 'nats';
import { RPC_REPLY_HEADER, subjects } from '@aiflock/protocol/subjects';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { busRpc } from '../src/bus-rpc.js';
import { replyMux } from '../src/reply-mux.js';

/** The agent's one subscription for answers, `replies.<id>.*`, and its waiters. */
const codec = JSONCodec();
const ID = 'scout-aaaa1111';
let server: TestNatsServer;
let nc: NatsConnection;
let daemon: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  daemon = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await daemon?.close();
  await server?.stop();
});

describe('reply mux', () => {
  it('gives each call its own answer, named in the header and as the reply subject', async () => {
    const named: string[] = [];
    daemon.subscribe(subjects.rpc(ID, 'echo', 'back'), {
      callback: (_e, m) => {
        const at = m.headers?.get(RPC_REPLY_HEADER) ?? '';
        named.push(at);
        expect(m.reply).toBe(at);
        // Answered late and out of order: each still reaches its caller.
        const n = (codec.decode(m.data) as { n: number }).n;
        setTimeout(() => daemon.publish(at, codec.encode({ ok: true, result: n })), 50 * (5 - n));
      },
    });
    await daemon.flush();
    const call = busRpc(nc, ID, 2_000);
    expect(await Promise.all([1, 2, 3, 4].map((n) => call('echo', 'back', { n })))).toEqual([1, 2, 3, 4]);
    expect(named.every((s) => s.startsWith(`${subjects.replies(ID)}.`) && s.split('.').length === 3)).toBe(true);
    expect(new Set(named).size).toBe(4);
    expect(replyMux(nc, ID).waiting).toBe(0);
  });

  it('a timed-out call fails as nc.request does and leaves no waiter; a late answer is dropped', async () => {
    const mux = replyMux(nc, ID);
    let late = '';
    daemon.subscribe(subjects.rpc(ID, 'slow', 'op'), { callback: (_e, m) => (late = m.headers?.get(RPC_REPLY_HEADER) ?? '') });
    await daemon.flush();
    const err = await mux.request(subjects.rpc(ID, 'slow', 'op'), codec.encode({}), { timeout: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.Timeout });
    expect(mux.waiting).toBe(0);
    daemon.publish(late, codec.encode({ ok: true, result: 'late' }));
    await daemon.flush();
    await nc.flush();
    expect(mux.waiting).toBe(0);
  });

  it('nobody listening is a 503 at once, as with nc.request (tasks.pull then pulls by itself)', async () => {
    const mux = replyMux(nc, ID);
    const started = Date.now();
    const err = await mux.request(subjects.rpc(ID, 'nobody', 'here'), codec.encode({}), { timeout: 5_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.NoResponders });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(mux.waiting).toBe(0);
  });

  it('an answer on a token nobody waits for reaches nobody', async () => {
    const mux = replyMux(nc, ID);
    let answered = '';
    daemon.subscribe(subjects.rpc(ID, 'guess', 'op'), { callback: (_e, m) => (answered = m.headers?.get(RPC_REPLY_HEADER) ?? '') });
    await daemon.flush();
    const p = mux.request(subjects.rpc(ID, 'guess', 'op'), codec.encode({}), { timeout: 500 }).catch((e: unknown) => e);
    await expect.poll(() => answered).not.toBe('');
    daemon.publish(`${subjects.replies(ID)}.someone-elses`, codec.encode({ ok: true, result: 'forged' }));
    expect(await p).toMatchObject({ code: ErrorCode.Timeout });
  });

  it('a channel reads several frames in order until closed', async () => {
    const mux = replyMux(nc, ID);
    const ch = mux.open();
    for (let i = 0; i < 3; i++) daemon.publish(ch.subject, codec.encode(i));
    await daemon.flush();
    const got: unknown[] = [];
    for await (const m of ch) {
      got.push(codec.decode(m.data));
      if (got.length === 3) ch.close();
    }
    expect(got).toEqual([0, 1, 2]);
    expect(mux.waiting).toBe(0);
  });

  it('one subscription per connection and instance, however many clients', () => {
    expect(replyMux(nc, ID)).toBe(replyMux(nc, ID));
    expect(replyMux(nc, 'other-bbbb2222')).not.toBe(replyMux(nc, ID));
  });
});
