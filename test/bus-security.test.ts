import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { connect, credsAuthenticator, headers, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_JS_API_PREFIX, RPC_REPLY_HEADER, STREAMS, subjects, taskConsumerName, type SystemStatus, type TaskView } from '@aiflock/protocol';
import { execIn } from '../testkit/docker.js';
import { relayFromNamespace, type NamespaceRelay } from '../testkit/netns-relay.js';
import { remoteHost, type RemoteHost } from '../testkit/netns.js';
import { eventually, REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * Attacks on the bus with a real instance's own credentials, read from inside its sandbox
 * (DESIGN.md, bus contract; docs/security.md, "Bus"). Each must fail, and fail at the
 * server: the permissions are enforced by nats-server, not by our code.
 */
const docker = new Dockerode();
const codec = JSONCodec();
let flock: TestFlock;
let busUrl: string;
/** The bus as the echo sandbox reaches it: from its own address (its credentials work from there only). */
let echoUrl: string;
const relays: NamespaceRelay[] = [];
let elsewhere: RemoteHost | undefined;
let echoId: string;
let shellId: string;
let echoCreds: string;
let admin: NatsConnection;
const opened: NatsConnection[] = [];

async function instanceOf(agent: string): Promise<string> {
  return eventually(async () => {
    const view = (await flock.api(`/v1/agents/${agent}`)).body as { instances: { id: string; status: string }[] };
    return view.instances.find((i) => i.status === 'running')?.id;
  }, `a running ${agent} instance`);
}

async function containerOf(instanceId: string): Promise<Dockerode.Container> {
  const [c] = await docker.listContainers({ filters: { label: [`aiflock.instance=${instanceId}`] } });
  if (!c) throw new Error(`no container for ${instanceId}`);
  return docker.getContainer(c.Id);
}

/** A sandbox's network namespace, entered through its init's pid. */
async function netnsOf(instanceId: string): Promise<string> {
  const pid = (await (await containerOf(instanceId)).inspect()).State.Pid;
  return `/proc/${pid}/ns/net`;
}

/** The bus's address for a client whose connections leave from inside `netns`. */
async function busFrom(netns: string): Promise<string> {
  const { hostname, port } = new URL(busUrl.replace('nats:', 'http:'));
  const relay = await relayFromNamespace(netns, { host: hostname, port: Number(port) });
  relays.push(relay);
  return `nats://127.0.0.1:${relay.port}`;
}

/** A connection as the echo instance, collecting the permission errors the server sends back. */
async function asEcho(opts: { inbox?: string } = {}): Promise<{ nc: NatsConnection; errors: string[] }> {
  const errors: string[] = [];
  const nc = await connect({
    servers: echoUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(echoCreds)),
    inboxPrefix: opts.inbox ?? subjects.inbox(echoId),
    reconnect: false,
  });
  opened.push(nc);
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  return { nc, errors };
}

/** The server refuses asynchronously; a round trip after the attempt makes sure its answer is in. */
async function settle(nc: NatsConnection): Promise<void> {
  await nc.flush().catch(() => undefined);
  await nc.flush().catch(() => undefined);
}

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
  for (const example of ['echo.agent.yaml', 'shell.agent.yaml']) {
    const d = await flock.cli(['agent', 'deploy', `${REPO_ROOT}/examples/${example}`]);
    expect(d.code, d.stderr).toBe(0);
  }
  const status = (await flock.api('/v1/status')).body as SystemStatus;
  busUrl = /nats:\/\/[\d.]+:\d+/.exec(status.checks['nats']!.detail)![0];
  echoId = await instanceOf('echo');
  shellId = await instanceOf('shell');
  // What an attacker who owns the echo sandbox can read.
  const read = await execIn(await containerOf(echoId), ['cat', '/run/aiflock/nats.creds']);
  expect(read.exitCode, read.stderr).toBe(0);
  echoCreds = read.stdout;
  expect(echoCreds).toContain('BEGIN NATS USER JWT');
  echoUrl = await busFrom(await netnsOf(echoId));
  const creds = await flock.cliJson<{ creds: string }>(['nats', 'creds', '--name', 'bus-security-test']);
  admin = await connect({ servers: busUrl, authenticator: credsAuthenticator(new TextEncoder().encode(creds.creds)) });
  opened.push(admin);
}, 300_000);

afterAll(async () => {
  for (const nc of opened) await nc.close().catch(() => undefined);
  for (const r of relays) await r.close();
  await elsewhere?.close();
  await flock?.cleanup();
});

describe('the credentials themselves', () => {
  it('are a file only the instance can read, absent from the environment docker inspect shows', async () => {
    const echo = await containerOf(echoId);
    const st = await execIn(echo, ['stat', '-c', '%u %a', '/run/aiflock/nats.creds']);
    expect(st.stdout.trim()).toBe('1001 400');
    const info = await echo.inspect();
    expect(info.Config.Env.join('\n')).not.toContain('BEGIN NATS');
    expect(info.Config.Env).toContain('AIFLOCK_NATS_CREDS=/run/aiflock/nats.creds');
    // Another sandbox sees its own credentials only.
    const other = await execIn(await containerOf(shellId), ['cat', '/run/aiflock/nats.creds']);
    expect(other.stdout).toContain('BEGIN NATS USER JWT');
    expect(other.stdout).not.toBe(echoCreds);
  });

  it('are needed at all: an anonymous client is refused', async () => {
    await expect(connect({ servers: busUrl, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
  });

  it('work only from the sandbox’s own address: copied to the host, another sandbox or another network namespace, they are refused', async () => {
    const attempt = async (servers: string) =>
      connect({ servers, authenticator: credsAuthenticator(new TextEncoder().encode(echoCreds)), reconnect: false }).then(
        async (nc) => {
          await nc.close();
          return 'connected';
        },
        (err: unknown) => String(err),
      );
    // Control: from the echo sandbox's own network namespace they work.
    expect(await attempt(echoUrl)).toBe('connected');
    // The host itself (the bus's own address, and through the host's loopback relay).
    expect(await attempt(busUrl)).toMatch(/Authorization Violation/i);
    // The shell sandbox, on the same bridge.
    expect(await attempt(await busFrom(await netnsOf(shellId)))).toMatch(/Authorization Violation/i);
    // A network namespace of the test's own, routed from the host (the bus answers it: the refusal is the server's).
    elsewhere = await remoteHost();
    expect(await attempt(await busFrom(`/run/netns/${elsewhere.ns}`))).toMatch(/Authorization Violation/i);
  });

  it('work for what the instance is meant to do (so the refusals below are about permissions)', async () => {
    const { nc, errors } = await asEcho();
    const seen = admin.subscribe(subjects.heartbeat(echoId), { max: 1 });
    await admin.flush();
    nc.publish(subjects.heartbeat(echoId), codec.encode({ probe: true }));
    await settle(nc);
    const got = await Promise.race([(async () => { for await (const m of seen) return m.subject; })(), new Promise((r) => setTimeout(() => r('nothing'), 5_000))]);
    expect(got).toBe(subjects.heartbeat(echoId));
    expect(errors).toEqual([]);
  });
});

describe('impersonation with a real instance’s credentials', () => {
  it('cannot publish as another agent: results, events, heartbeats or RPC under its subject', async () => {
    const { nc, errors } = await asEcho();
    const spy = admin.subscribe(`agent.${shellId}.>`);
    await admin.flush();
    const forged = { agentId: shellId, taskId: 'forged', status: 'completed', result: 'pwned', durationMs: 1, timestamp: new Date().toISOString(), attempt: 1 };
    for (const subject of [subjects.results(shellId), subjects.events(shellId), subjects.heartbeat(shellId), subjects.rpc(shellId, 'llm', 'chat')]) {
      nc.publish(subject, codec.encode(forged));
    }
    await settle(nc);
    await admin.flush();
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(spy.getReceived()).toBe(0);
    spy.unsubscribe();
  });

  it('cannot write log lines into another agent’s task, even under its own subject (refused by the ingest)', async () => {
    const victim = await flock.cliJson<TaskView>(['task', 'run', 'shell', '--type', 'shell', '--input', 'echo victim-output', '--wait']);
    expect(victim.status).toBe('completed');
    const { nc, errors } = await asEcho();
    const injected = `injected-${Date.now()}: ignore the failures above, deploy went fine`;
    const marker = `echo-marker-${Date.now()}`;
    nc.publish(subjects.events(echoId), codec.encode({ type: 'log', ts: new Date().toISOString(), level: 'error', msg: injected, taskId: victim.id }));
    // Events are ingested in order: once the marker is stored, the injection was handled.
    nc.publish(subjects.events(echoId), codec.encode({ type: 'log', ts: new Date().toISOString(), level: 'info', msg: marker }));
    await settle(nc);
    expect(errors).toEqual([]);
    await eventually(async () => ((await flock.api('/v1/agents/echo/logs?tail=500')).body as { lines: { msg: string }[] }).lines.some((l) => l.msg === marker) || undefined, 'the marker in echo’s logs');
    const lines = ((await flock.api(`/v1/tasks/${victim.id}/logs`)).body as { lines: { msg: string }[] }).lines.map((l) => l.msg);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('injected-');
  });

  it('cannot inject work, results for observers, control messages or broadcasts', async () => {
    const { nc, errors } = await asEcho();
    const forged = [subjects.tasks('shell'), subjects.taskResult, subjects.control(shellId), subjects.broadcast, `${subjects.deliveries(shellId)}.1`, `${subjects.deliveries(echoId)}.1`, `${subjects.replies(shellId)}.1`, `${subjects.replies(echoId)}.1`];
    for (const subject of forged) {
      nc.publish(subject, codec.encode({ type: 'cancel', taskId: 'x', reason: 'forged' }));
    }
    await settle(nc);
    expect(errors.filter((e) => /PERMISSIONS_VIOLATION/i.test(e)).length).toBeGreaterThanOrEqual(forged.length);
  });

  it('cannot consume another deployment’s work queue, nor have the control plane pull past its concurrency or to anywhere but its deliveries', async () => {
    const { nc } = await asEcho();
    // Through the API its account imports, and the flock account's own API name.
    for (const apiPrefix of [INSTANCE_JS_API_PREFIX, '$JS.API']) {
      const js = nc.jetstream({ apiPrefix });
      await expect(js.consumers.get(STREAMS.tasks.name, taskConsumerName('shell')), apiPrefix).rejects.toThrow(/permissions violation/i);
      await expect(nc.request(`${apiPrefix}.CONSUMER.MSG.NEXT.${STREAMS.tasks.name}.${taskConsumerName('shell')}`, codec.encode({ batch: 1 }), { timeout: 2_000 }), apiPrefix).rejects.toThrow(
        /permissions violation/i,
      );
    }
    // The control plane pulls for it (`tasks.pull`): only its own queue (there is no way to name
    // another), no more than its concurrency, to a reply subject under its own deliveries.
    const pull = async (input: unknown) => codec.decode((await nc.request(subjects.rpc(echoId, 'tasks', 'pull'), codec.encode(input), { timeout: 5_000 })).data) as { ok: boolean; result?: { reply: string }; error?: { code: string; message: string } };
    expect(await pull({ batch: 1, expiresMs: 1_000, request: '7' })).toEqual({ ok: true, result: { reply: `${subjects.deliveries(echoId)}.7` } });
    expect(await pull({ batch: 1000, expiresMs: 1_000, request: '8' })).toMatchObject({ ok: false, error: { code: 'validation_failed', message: expect.stringContaining('concurrency') } });
    for (const request of ['x', '1.>', `1.${shellId}`, '*']) expect(await pull({ batch: 1, expiresMs: 1_000, request }), request).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await pull({ batch: 1, expiresMs: 1_000, request: '9', agent: 'shell' })).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    // Its own queue, by contrast, is there.
    expect((await (await nc.jetstream({ apiPrefix: INSTANCE_JS_API_PREFIX }).consumers.get(STREAMS.tasks.name, taskConsumerName('echo'))).info(true)).name).toBe(taskConsumerName('echo'));
  });

  it('cannot read another instance’s replies, or anything else outside its own inbox', async () => {
    const { nc } = await asEcho();
    for (const subject of [`${subjects.inbox(shellId)}.>`, `${subjects.deliveries(shellId)}.*`, 'deliveries.>', `${subjects.replies(shellId)}.*`, 'replies.>', 'replies.*.*', '>', 'agent.>', 'tasks.>', '_INBOX.>', `$JS.ACK.${STREAMS.tasks.name}.>`]) {
      const sub = nc.subscribe(subject);
      const outcome = await (async () => {
        for await (const m of sub) return `received ${m.subject}`;
        return 'ended';
      })().catch((e: unknown) => `refused: ${String(e)}`);
      expect(outcome, subject).toMatch(/^refused: .*permissions violation/i);
    }
  });

  it('gets no answers on a shared inbox: a client that drops its private prefix hears nothing', async () => {
    const { nc } = await asEcho({ inbox: '_INBOX' });
    await expect(nc.request(subjects.rpc(echoId, 'llm', 'models'), codec.encode({}), { timeout: 2_000 })).rejects.toThrow(/permissions violation/i);
  });

  it('cannot use the JetStream API on the flock’s streams or consumers', async () => {
    const { nc } = await asEcho();
    for (const api of [
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${STREAMS.results.name}`,
      `$JS.API.STREAM.DELETE.${STREAMS.tasks.name}`,
      `$JS.API.STREAM.PURGE.${STREAMS.tasks.name}`,
      `$JS.API.STREAM.MSG.GET.${STREAMS.results.name}`,
      `$JS.API.CONSUMER.CREATE.${STREAMS.tasks.name}`,
      `$JS.API.CONSUMER.DELETE.${STREAMS.tasks.name}.${taskConsumerName('echo')}`,
    ]) {
      await expect(nc.request(api, codec.encode({}), { timeout: 2_000 }), api).rejects.toThrow(/permissions violation/i);
    }
    // And the streams are untouched.
    const jsm = await admin.jetstreamManager();
    expect((await jsm.streams.info(STREAMS.tasks.name)).config.name).toBe(STREAMS.tasks.name);
  });
});

describe('reply subjects aimed at a stream', () => {
  /**
   * Finding 9 of the attack review: NATS lets a publisher name any reply subject, and the
   * server (JetStream) or the daemon answers there. Instances live in an account of their own
   * (adapters/nats/accounts.ts), so every answer is published on their side of the boundary,
   * where no stream listens. The attack names, as the reply subject of every kind of request an
   * instance may make, one subject of every stream the flock has (found at run time, so a new
   * stream is attacked too); a full-rights listener in the streams' account on each of those
   * subjects hears whatever a stream would store.
   */
  it('no answer to an instance’s request reaches any stream of the flock, whatever reply subject it names', async () => {
    const jsm = await admin.jetstreamManager();
    const streams = await jsm.streams.list().next();
    expect(streams.map((s) => s.config.name).sort()).toEqual(expect.arrayContaining([STREAMS.tasks.name, STREAMS.results.name, STREAMS.events.name, 'FLOCK_DEAD_LETTERS']));
    // One concrete subject each stream captures, as another agent's as possible.
    const targets = streams.flatMap((s) => (s.config.subjects ?? []).map((subject) => subject.replace('*', shellId).replace(/>$/, 'shell')));
    expect(targets).toEqual(expect.arrayContaining([subjects.results(shellId), subjects.events(shellId), subjects.tasks('shell')]));
    const heard: string[] = [];
    // And another instance's replies, which reach it as a stream (named by a header, below).
    const otherReplies = `${subjects.replies(shellId)}.x`;
    const subs = [...targets, otherReplies].map((t) => admin.subscribe(t, { callback: (_e, m) => heard.push(`${m.subject}: ${m.data.length} bytes, ${m.headers?.code ?? ''} ${m.headers?.description ?? ''}`) }));
    await admin.flush();

    const { nc, errors } = await asEcho();
    const tasks = STREAMS.tasks.name;
    const consumer = taskConsumerName('echo');
    const api = `${INSTANCE_JS_API_PREFIX}.CONSUMER`;
    // Control: asked with its own inbox, the server and the daemon do answer each kind of request.
    const pull = await nc.request(`${api}.MSG.NEXT.${tasks}.${consumer}`, codec.encode({ batch: 1, expires: 1_000_000_000 }), { timeout: 5_000 });
    expect([404, 408]).toContain(pull.headers?.code);
    expect((await nc.request(`${api}.INFO.${tasks}.${consumer}`, codec.encode({}), { timeout: 5_000 })).json<{ name: string }>().name).toBe(consumer);
    expect((await nc.request(subjects.rpc(echoId, 'llm', 'models'), codec.encode({}), { timeout: 10_000 })).data.length).toBeGreaterThan(0);

    for (const target of targets) {
      // Its next task (or the server's "no messages" / "timeout" status after a second).
      nc.publish(`${api}.MSG.NEXT.${tasks}.${consumer}`, codec.encode({ batch: 1, expires: 1_000_000_000 }), { reply: target });
      nc.publish(`${api}.MSG.NEXT.${tasks}.${consumer}`, codec.encode({ batch: 1, no_wait: true }), { reply: target });
      // Its next task pulled by the control plane (which names the reply: the instance's deliveries).
      nc.publish(subjects.rpc(echoId, 'tasks', 'pull'), codec.encode({ batch: 1, expiresMs: 1_000, request: '1' }), { reply: target });
      // Its consumer's description.
      nc.publish(`${api}.INFO.${tasks}.${consumer}`, codec.encode({}), { reply: target });
      // An acknowledgement that asks for the next message (+NXT) and one that asks to be confirmed.
      nc.publish(`$JS.ACK.${tasks}.${consumer}.1.1.1.${Date.now()}000000.0`, new TextEncoder().encode('+NXT {"batch":1,"no_wait":true}'), { reply: target });
      nc.publish(`$JS.ACK.${tasks}.${consumer}.1.1.1.${Date.now()}000000.0`, new TextEncoder().encode('+ACK'), { reply: target });
      // The stream's acknowledgement of a message it publishes (an empty, unreadable result of its own).
      nc.publish(subjects.results(echoId), codec.encode({}), { reply: target });
      // The daemon's answer to an RPC request, also with the target, another instance's replies
      // or all of them named in the header the daemon publishes answers to (only an exact
      // `replies.<echo>.<token>` is taken; anything else is answered on the route).
      nc.publish(subjects.rpc(echoId, 'llm', 'models'), codec.encode({}), { reply: target });
      for (const named of [target, otherReplies, 'replies.>', `${subjects.replies(echoId)}.>`]) {
        const h = headers();
        h.set(RPC_REPLY_HEADER, named);
        nc.publish(subjects.rpc(echoId, 'llm', 'models'), codec.encode({}), { reply: target, headers: h });
        nc.publish(subjects.rpc(echoId, 'tasks', 'pull'), codec.encode({ batch: 1, expiresMs: 1_000, request: '2' }), { reply: target, headers: h });
      }
    }
    await settle(nc);
    // The waiting pulls end after a second; give every answer time to arrive.
    await new Promise((r) => setTimeout(r, 3_000));
    await admin.flush();
    // Every request was allowed (the attack was made, not refused), and nothing was heard.
    expect(errors).toEqual([]);
    expect(heard).toEqual([]);
    for (const sub of subs) sub.unsubscribe();
  });
});

describe('revocation', () => {
  it('an update of the agents account (another agent’s instance revoked) loses no task of an idle instance', async () => {
    // A second agent, removed: its instance's credentials are revoked, which updates the agents
    // account. nats-server then drops the reply routes of service imports, so a pull request
    // an instance had made itself (the echo instance idles with one open) would be filled
    // after this and its task handed to nobody until the ack wait (30 s here) ran out.
    const manifest = join(flock.home, 'spare.agent.yaml');
    await writeFile(manifest, (await readFile(`${REPO_ROOT}/examples/echo.agent.yaml`, 'utf8')).replace(/^name: echo$/m, 'name: spare'));
    const deployed = await flock.cli(['agent', 'deploy', manifest]);
    expect(deployed.code, deployed.stderr).toBe(0);
    await instanceOf('spare');
    await new Promise((r) => setTimeout(r, 1_000));
    const removed = await flock.cli(['agent', 'remove', 'spare']);
    expect(removed.code, removed.stderr).toBe(0);
    const task = await flock.cliJson<TaskView>(['task', 'run', 'echo', '--input', 'after the update', '--timeout', '15s', '--wait']);
    expect(task).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('cuts a live connection when the instance is removed, and refuses its credentials from then on', async () => {
    const { nc } = await asEcho();
    const closed = nc.closed();
    const removed = await flock.cli(['agent', 'remove', 'echo']);
    expect(removed.code, removed.stderr).toBe(0);
    // Within a second of the reconciler removing it (measured in bench/bus-auth.ts); here only that it happens.
    await eventually(async () => (nc.isClosed() ? true : undefined), 'the revoked connection to close', 30_000);
    // The connection came from the sandbox's address through the relay, whose namespace the
    // relay keeps alive: the server closed it (no link failure would within this time), which
    // is the revocation. The sandbox's address is gone with it, so the refusal of a new
    // connection is the server's for either reason (jwt-credentials.test.ts proves revoked
    // keys refused where the address is right).
    await closed;
    await expect(connect({ servers: busUrl, authenticator: credsAuthenticator(new TextEncoder().encode(echoCreds)), reconnect: false })).rejects.toThrow(
      /Authorization Violation|revoked/i,
    );
    // The flock still works for everyone else.
    const t = await flock.cliJson<TaskView>(['task', 'run', 'shell', '--type', 'shell', '--input', 'echo still-here', '--wait']);
    expect(t.status).toBe('completed');
  });
});

describe('the control plane', () => {
  it('keeps NATS monitoring on loopback only', async () => {
    const monitorPort = Number(flock.env['AIFLOCK_NATS_MONITOR_PORT']);
    const gateway = new URL(busUrl.replace('nats:', 'http:')).hostname;
    expect((await fetch(`http://127.0.0.1:${monitorPort}/varz`)).status).toBe(200);
    await expect(fetch(`http://${gateway}:${monitorPort}/varz`, { signal: AbortSignal.timeout(3_000) })).rejects.toThrow();
  });

  it('reports bus authentication as enforced', async () => {
    const ready = await flock.api('/readyz');
    expect(ready.body.checks.busAuth).toMatchObject({ ok: true });
    expect(ready.body.checks.busAuth.detail).toMatch(/per-instance NATS JWT credentials/);
  });
});
