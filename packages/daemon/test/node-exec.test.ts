import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockError, type ExecRequest, type ExecSession, type SandboxRuntime } from '@aiflock/core';
import { instancePermissions, nodePermissions, nodeSubjects } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { NatsTrust } from '../src/adapters/nats/trust.js';
import { processAlive } from '../src/process-alive.js';
import type { ExecLinkTiming } from '../src/nodes/exec-link.js';
import { natsNodeWire } from '../src/nodes/node-wire.js';
import { RemoteSandboxes } from '../src/nodes/remote-sandboxes.js';
import { NodeExecSessions } from '../src/node-agent/node-exec.js';
import { serveNodeOps } from '../src/node-agent/node-ops.js';

/**
 * `aiflock agent exec` into a joined node's sandbox, as a session streamed over core NATS
 * between the control plane (the flock account) and the node agent (the agents account), on a
 * real nats-server with the flock's trust chain: output as it comes and in order, input as it is
 * typed, a window of frames on the bus at most, the exit code, either side's end; and nobody
 * else (another node, an instance) can read, forge or inject a session's frames.
 */
const NODE = 'north';
const OTHER = 'east';
const INSTANCE = 'inst-aaaa1111';
// Short, so a side's end is noticed within a test; the window is the real one.
const TIMING: ExecLinkTiming = { window: 16, pingMs: 200, deadMs: 1_500, resendMs: 500 };

let dir: string;
let nats: TestNatsServer;
let trust: NatsTrust;
const conns: NatsConnection[] = [];

/** Commands run as child processes of the test, as a runtime's exec runs them in a sandbox. */
interface FakeRuntime extends SandboxRuntime {
  sessions: { req: ExecRequest; resizes: [number, number][]; pid: number; detached: boolean; pauses: number; exited: Promise<number> }[];
}
function fakeRuntime(): FakeRuntime {
  const sessions: FakeRuntime['sessions'] = [];
  return {
    kind: 'fake',
    capabilities: { exec: true },
    sessions,
    list: async () => [{ instanceId: INSTANCE }],
    exec: async (instanceId: string, req: ExecRequest): Promise<ExecSession> => {
      if (instanceId !== INSTANCE) throw new FlockError('instance_not_running', 'no');
      const child = spawn(req.command[0]!, req.command.slice(1), { stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      const listeners: ((s: 'stdout' | 'stderr', d: Uint8Array) => void)[] = [];
      child.stdout!.on('data', (d: Buffer) => listeners.forEach((l) => l('stdout', d)));
      child.stderr!.on('data', (d: Buffer) => listeners.forEach((l) => l('stderr', d)));
      const exited = new Promise<number>((r) => child.once('close', (code, signal) => r(code ?? (signal === 'SIGKILL' ? 137 : -1))));
      const record = { req, resizes: [] as [number, number][], pid: child.pid!, detached: false, pauses: 0, exited };
      sessions.push(record);
      return {
        onOutput: (l) => void listeners.push(l),
        write: (d) => void child.stdin?.write(d),
        closeStdin: () => void child.stdin?.end(),
        resize: async (cols, rows) => void record.resizes.push([cols, rows]),
        exited,
        detach: () => {
          record.detached = true;
          child.kill('SIGKILL');
        },
        pause: () => {
          record.pauses++;
          child.stdout!.pause();
        },
        resume: () => void child.stdout!.resume(),
      };
    },
  } as unknown as FakeRuntime;
}

async function userConn(creds: string, inboxPrefix?: string): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), ...(inboxPrefix ? { inboxPrefix } : {}) });
  conns.push(nc);
  const errors: string[] = [];
  void (async () => {
    for await (const st of nc.status()) if (st.type === 'error') errors.push([String(st.data), st.permissionContext?.operation, st.permissionContext?.subject].filter(Boolean).join(' '));
  })();
  return { nc, errors };
}

const nodeConn = async (node: string) => userConn((await trust.issueInstanceUser(`node-${node}`, nodePermissions(node), null)).creds, nodeSubjects.inbox(node));
const daemonConn = async () => userConn((await trust.issueUser('daemon', {}, null)).creds);

let nodes = 0;
/**
 * A node agent's exec service on its own connection, and the control plane's side on the
 * daemon's; each pair's node has a name of its own (north-1, north-2, ...), as every node does.
 */
async function pair(name = `${NODE}-${++nodes}`): Promise<{ name: string; runtime: FakeRuntime; remote: RemoteSandboxes; node: NatsConnection; cp: NatsConnection; served: ReturnType<typeof serveNodeOps> }> {
  const runtime = fakeRuntime();
  const node = (await nodeConn(name)).nc;
  const wire = natsNodeWire(node);
  // Short timing, so these tests notice a side's end soon.
  const served = serveNodeOps(wire, name, runtime, () => undefined, new NodeExecSessions(wire, name, runtime, () => undefined, TIMING));
  await node.flush();
  const cp = (await daemonConn()).nc;
  return { name, runtime, remote: new RemoteSandboxes(natsNodeWire(cp), TIMING), node, cp, served };
}

/** Everything a session says until its end. */
function collect(s: ExecSession): { out: () => string; err: () => string; bytes: () => number } {
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  s.onOutput((stream, d) => (stream === 'stdout' ? o : e).push(Buffer.from(d)));
  return { out: () => Buffer.concat(o).toString(), err: () => Buffer.concat(e).toString(), bytes: () => o.reduce((n, b) => n + b.byteLength, 0) };
}

const until = async (check: () => boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-node-exec-'));
  trust = await NatsTrust.open(join(dir, 'trust.json'));
  nats = await startNatsServer({ config: await trust.serverConfig(join(dir, 'resolver')) });
});

afterAll(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('exec sessions on a joined node', () => {
  it('streams more than 256 KiB in order, and the exit code', async () => {
    const { name, remote } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'seq 1 200000; echo done >&2; exit 7'], tty: false, stdin: false });
    const got = collect(s);
    expect(await s.exited).toBe(7);
    const expected = Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join('');
    expect(expected.length).toBeGreaterThan(1024 * 1024);
    expect(got.out().length).toBe(expected.length);
    expect(got.out() === expected).toBe(true);
    expect(got.err()).toBe('done\n');
  });

  it('gives output as it comes and takes input as it is typed', async () => {
    const { name, remote } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['cat'], tty: false, stdin: true });
    const got = collect(s);
    s.write(Buffer.from('one\n'));
    // Echoed before any more input, or the end of it, is given.
    await until(() => got.out() === 'one\n', 'the first line echoed');
    s.write(Buffer.from('two\n'));
    await until(() => got.out() === 'one\ntwo\n', 'the second line echoed');
    s.closeStdin();
    expect(await s.exited).toBe(0);
  });

  it('asks for a terminal of the given size and forwards resizes in order', async () => {
    const { name, remote, runtime } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['cat'], tty: true, stdin: true, cols: 80, rows: 24 });
    const rec = runtime.sessions.at(-1)!;
    expect(rec.req).toMatchObject({ tty: true, cols: 80, rows: 24 });
    await s.resize(100, 30);
    await s.resize(120, 40);
    await until(() => rec.resizes.length === 2, 'both resizes on the node');
    expect(rec.resizes).toEqual([
      [100, 30],
      [120, 40],
    ]);
    s.closeStdin();
    expect(await s.exited).toBe(0);
  });

  it('keeps at most a window of frames on the bus while nobody reads, and loses nothing', async () => {
    const { name, remote, cp } = await pair();
    // An observer on the control plane's side counts the output frames the node sends.
    const seen = new Set<number>();
    const watch = cp.subscribe(`node.${name}.exec.*`, {
      callback: (_e, m) => {
        const f = JSON.parse(new TextDecoder().decode(m.data)) as { k: string; seq?: number };
        if (f.k === 'stdout') seen.add(f.seq!);
      },
    });
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'head -c 4194304 /dev/zero'], tty: false, stdin: false });
    await until(() => seen.size >= TIMING.window, 'a window of frames');
    // Unread, nothing beyond the window comes, though the command has far more to say.
    await new Promise((r) => setTimeout(r, TIMING.resendMs * 3));
    expect(Math.max(...seen)).toBe(TIMING.window);
    const got = collect(s);
    expect(await s.exited).toBe(0);
    expect(got.bytes()).toBe(4 * 1024 * 1024);
    watch.unsubscribe();
  });

  it('a client that is behind stops the command on the node (it blocks on its pipe), and then gets everything', async () => {
    const { name, remote, runtime } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'head -c 33554432 /dev/zero; echo end >&2'], tty: false, stdin: false });
    const rec = runtime.sessions.at(-1)!;
    const got = collect(s);
    s.pause!();
    // The node's backlog grows to its mark and the runtime's output is paused there.
    await until(() => rec.pauses > 0, 'the command paused on the node');
    // Paused, 32 MiB cannot all have been written: the command is still there, blocked.
    expect(processAlive(rec.pid)).toBe(true);
    expect(got.bytes()).toBeLessThan(32 * 1024 * 1024);
    s.resume!();
    expect(await s.exited).toBe(0);
    expect([got.bytes(), got.err()]).toEqual([32 * 1024 * 1024, 'end\n']);
  });

  it('kills the command when the client goes away', async () => {
    const { name, remote, runtime, served } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'echo started; exec sleep 600'], tty: false, stdin: false });
    const got = collect(s);
    await until(() => got.out() === 'started\n', 'the first output');
    const rec = runtime.sessions.at(-1)!;
    s.detach();
    await until(() => rec.detached && !processAlive(rec.pid), 'the command killed on the node');
    await until(() => served.sessions.size === 0, 'the session closed on the node');
  });

  it('kills the command when the control plane goes silent', async () => {
    const { name, remote, runtime, cp, served } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'echo started; exec sleep 600'], tty: false, stdin: false });
    const got = collect(s);
    await until(() => got.out() === 'started\n', 'the first output');
    await cp.close();
    const rec = runtime.sessions.at(-1)!;
    await until(() => rec.detached && !processAlive(rec.pid), 'the command killed on the node', 10_000);
    expect(served.sessions.size).toBe(0);
  });

  it('ends with an error and exit code -1 when the node agent goes away, not a hang', async () => {
    const { name, remote, node } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'echo started; exec sleep 600'], tty: false, stdin: false });
    const got = collect(s);
    await until(() => got.out() === 'started\n', 'the first output');
    await node.close();
    expect(await s.exited).toBe(-1);
    expect(got.err()).toMatch(new RegExp(`node ${name} stopped answering`));
  });

  it('ends each session with why when the node agent stops, before its connection drains (not after the silence), and refuses new ones', async () => {
    const { name, remote, runtime, node, served } = await pair();
    const s = await remote.exec(name, INSTANCE, { command: ['sh', '-c', 'echo started; exec sleep 600'], tty: false, stdin: false });
    const got = collect(s);
    await until(() => got.out() === 'started\n', 'the first output');
    let exitCode: number | null = null;
    void s.exited.then((c) => (exitCode = c));
    const rec = runtime.sessions.at(-1)!;
    const began = Date.now();
    // As NodeAgent.stop does: the sessions first, then the drain.
    await served.stop();
    // Resolved once the control plane had the last frame (it acknowledges it as it ends the session).
    expect(exitCode).toBe(-1);
    expect(Date.now() - began).toBeLessThan(TIMING.deadMs);
    await node.drain();
    expect(got.err()).toBe(`aiflock: node ${name}: the node agent stops; the command is dropped\n`);
    await until(() => rec.detached && !processAlive(rec.pid), 'the command killed on the node');
    expect(served.sessions.size).toBe(0);
    await expect(served.sessions.openSession({ session: 'B'.repeat(22), instanceId: INSTANCE, command: ['id'], tty: false, stdin: false })).rejects.toMatchObject({ code: 'runtime_unavailable' });
  });

  it('refuses what it must: an instance not on the node, a malformed request', async () => {
    const { name, remote, cp } = await pair();
    await expect(remote.exec(name, 'inst-zzzz9999', { command: ['id'], tty: false, stdin: false })).rejects.toMatchObject({ code: 'instance_not_found' });
    const bad = natsNodeWire(cp);
    expect(await bad.request(nodeSubjects.exec(name), { session: '../../x', instanceId: INSTANCE, command: ['id'], tty: false, stdin: false }, 5_000)).toMatchObject({ ok: false, code: 'validation_failed' });
    expect(await bad.request(nodeSubjects.exec(name), { session: 'A'.repeat(22), instanceId: INSTANCE, command: ['id'], tty: false, stdin: false, extra: 1 }, 5_000)).toMatchObject({ ok: false, code: 'validation_failed' });
  });
});

describe('exec sessions under attack', () => {
  it('another node and an instance can neither read a session, nor forge its output, nor inject its input', async () => {
    const { remote, runtime } = await pair(NODE);
    const s = await remote.exec(NODE, INSTANCE, { command: ['cat'], tty: false, stdin: true });
    const got = collect(s);
    const rec = runtime.sessions.at(-1)!;
    const sub = `node.${NODE}.exec.*`;
    const input = `nodectl.${NODE}.exec.*`;
    const attackers = [await nodeConn(OTHER), await userConn((await trust.issueInstanceUser(INSTANCE, instancePermissions(INSTANCE, 'inst'), 600)).creds, `_INBOX.${INSTANCE}`)];
    const read: string[] = [];
    for (const a of attackers) {
      for (const subject of [sub, input, `node.${NODE}.>`, `nodectl.${NODE}.>`, '>']) a.nc.subscribe(subject, { callback: (e, m) => void (e ? undefined : read.push(m.subject)) });
    }
    // What each would send: forged output, injected input, on any session's subject (the id is not even needed to try).
    for (const a of attackers) {
      a.nc.publish(`node.${NODE}.exec.AAAAAAAAAAAAAAAAAAAAAA`, JSON.stringify({ k: 'stdout', seq: 1, data: Buffer.from('forged').toString('base64') }));
      a.nc.publish(`nodectl.${NODE}.exec.AAAAAAAAAAAAAAAAAAAAAA`, JSON.stringify({ k: 'stdin', seq: 1, data: Buffer.from('injected\n').toString('base64') }));
      a.nc.publish(`nodectl.${NODE}.exec`, JSON.stringify({ session: 'B'.repeat(22), instanceId: INSTANCE, command: ['id'], tty: false, stdin: false }));
    }
    // The session goes on for its rightful ends only.
    s.write(Buffer.from('rightful\n'));
    await until(() => got.out() === 'rightful\n', 'the control plane’s input echoed');
    for (const a of attackers) await a.nc.flush().catch(() => undefined);
    await until(() => attackers.every((a) => a.errors.filter((e) => /PERMISSIONS_VIOLATION/.test(e)).length >= 8), 'the server to refuse every subscription and publish');
    for (const a of attackers) {
      expect(a.errors).toEqual(
        expect.arrayContaining([
          `PERMISSIONS_VIOLATION subscription node.${NODE}.exec.*`,
          `PERMISSIONS_VIOLATION subscription nodectl.${NODE}.exec.*`,
          `PERMISSIONS_VIOLATION publish node.${NODE}.exec.AAAAAAAAAAAAAAAAAAAAAA`,
          `PERMISSIONS_VIOLATION publish nodectl.${NODE}.exec.AAAAAAAAAAAAAAAAAAAAAA`,
          `PERMISSIONS_VIOLATION publish nodectl.${NODE}.exec`,
        ]),
      );
    }
    s.closeStdin();
    expect(await s.exited).toBe(0);
    expect(got.out()).toBe('rightful\n');
    expect(read).toEqual([]);
    expect(rec.req.command).toEqual(['cat']);
    expect(runtime.sessions).toHaveLength(1);
  });
});
