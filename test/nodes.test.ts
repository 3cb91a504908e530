import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { FINAL_STATUSES, type AgentView, type InstanceStats, type IssuedJoinToken, type NodeInfo, type SystemStatus, type TaskBatchResponse, type TaskView } from '@aiflock/protocol';
import { runtimeScope } from '../packages/daemon/src/node-agent/node-runtime.js';
import { deployYaml } from '../testkit/agents.js';
import { CLI } from '../testkit/cli.js';
import { remoteHost, type RemoteHost } from '../testkit/netns.js';
import { relayFromNamespace } from '../testkit/netns-relay.js';
import { removeNodeLeftovers } from '../testkit/node-leftovers.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { phases } from '../testkit/phases.js';

const FINAL = new Set<string>(FINAL_STATUSES);

/**
 * Nodes on one machine: each extra "host" is a network namespace this test makes (a veth pair
 * to the host), where `aiflock node join` runs against the flock's API and bus over that link
 * only. Joining (single-use tokens refused the second time), capacity, cordon, labels, a node
 * going silent becoming lost, and removal cutting the node agent off the bus.
 */
let flock: TestFlock;
const hosts: RemoteHost[] = [];
const agents: { child: ChildProcess; home: string; out: string; err: string }[] = [];
let apiPort: string;
const phase = phases('nodes');

/**
 * Into the "host's" network namespace only: `ip netns exec` would also mount a sysfs of its
 * own, hiding the cgroup tree the node's sandboxes are limited with.
 */
const inHost = (host: RemoteHost) => [`--net=/run/netns/${host.ns}`, '--'];

/** `aiflock node join` inside `host`'s namespace, with a home of its own (where the node's credentials go). */
async function joinNode(host: RemoteHost, args: string[]): Promise<(typeof agents)[number] & { exit: Promise<number> }> {
  const home = await mkdtemp(join(tmpdir(), 'aiflock-node-'));
  const env = { PATH: process.env['PATH'] ?? '', AIFLOCK_HOME: home };
  const child = spawn('nsenter', [...inHost(host), process.execPath, CLI, 'node', 'join', `http://${host.hostAddress}:${apiPort}`, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const a = { child, home, out: '', err: '' };
  child.stdout!.on('data', (d: Buffer) => (a.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (a.err += d.toString()));
  agents.push(a);
  const exit = new Promise<number>((r) => child.once('exit', (c) => r(c ?? -1)));
  return { ...a, get out() { return a.out; }, get err() { return a.err; }, exit };
}

/** `aiflock node run` inside `host`'s namespace, from the state a join left in `home`. */
function runNode(host: RemoteHost, home: string): ChildProcess {
  const child = spawn('nsenter', [...inHost(host), process.execPath, CLI, 'node', 'run'], { env: { PATH: process.env['PATH'] ?? '', AIFLOCK_HOME: home }, stdio: 'ignore', detached: true });
  agents.push({ child, home, out: '', err: '' });
  return child;
}

const node = async (name: string) => (await flock.api(`/v1/nodes/${name}`)).body as NodeInfo;

beforeAll(async () => {
  // The API listens on every address so the namespaces reach it over their veth link.
  // A short ack wait, so the tasks a lost node's instance held come back within seconds.
  flock = await testFlock({
    env: { AIFLOCK_API_HOST: '0.0.0.0', AIFLOCK_NODE: 'cp', AIFLOCK_NODE_LABELS: 'pool=shared', AIFLOCK_NODE_HEARTBEAT_MS: '1000', AIFLOCK_NODE_LOST_AFTER_MS: '5000', AIFLOCK_TASK_ACK_WAIT_MS: '4000' },
  });
  apiPort = flock.env['AIFLOCK_API_PORT']!;
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
  phase('control plane up');
  // The third "host" is on a bridge of the test's own, where the node running sandboxes joins.
  hosts.push(await remoteHost(), await remoteHost(), await remoteHost({ bridge: true }));
  phase('hosts made');
}, 300_000);

afterAll(async () => {
  phase('cleanup');
  for (const a of agents) killGroup(a.child);
  for (const h of hosts) await h.close();
  // What the nodes' runtimes made on this machine (the "hosts" share its file system and cgroups).
  for (const name of ['west', 'east', 'north']) {
    if (!flock) break;
    await removeNodeLeftovers(flock.name, name);
  }
  for (const a of agents) await rm(a.home, { recursive: true, force: true });
  await flock?.cleanup();
  phase('cleaned up');
});

describe('nodes', () => {
  let single: IssuedJoinToken;
  let first: Awaited<ReturnType<typeof joinNode>>;

  it('joins a host with a single-use token, which it reports its capacity to', async () => {
    single = await flock.cliJson<IssuedJoinToken>(['node', 'token', 'create', '--single-use', '--ttl', '600']);
    expect(single.token).toMatch(/^afj_/);
    first = await joinNode(hosts[0]!, ['--token', single.token, '--name', 'west', '--label', 'zone=w', '--runtime', 'process']);
    const west = await eventually(async () => {
      const n = await node('west');
      return n.status === 'ready' && n.capacity ? n : null;
    }, 'node west ready with its capacity', 60_000);
    expect(west.labels).toEqual({ zone: 'w' });
    expect(west.local).toBe(false);
    expect(west.capacity!.cpus).toBeGreaterThan(0);
    expect(west.capacity!.memoryBytes).toBeGreaterThan(0);
    expect(west.capacity!.runtimes.length).toBeGreaterThan(0);
    // The token is stored hashed: nothing in the database holds it.
    const list = await flock.cliJson<NodeInfo[]>(['node', 'list']);
    expect(list.map((n) => [n.name, n.local, n.status])).toEqual([
      ['cp', true, 'ready'],
      ['west', false, 'ready'],
    ]);
    const audit = JSON.stringify((await flock.api('/v1/audit?resource=node*&limit=50')).body);
    expect(audit).toContain('"node.token.create"');
    expect(audit).toMatch(/"node\.join".*"resource":"node\/west"|"resource":"node\/west".*"node\.join"/);
    expect(audit).not.toContain(single.token);
  });

  it('refuses a second join with the single-use token, a bad token, and a taken name, changing nothing', async () => {
    const again = await joinNode(hosts[1]!, ['--token', single.token, '--name', 'east']);
    expect(await again.exit).toBe(7);
    expect(again.err).toMatch(/single-use and node "west" used it/);
    const bad = await joinNode(hosts[1]!, ['--token', 'afj_not-a-token', '--name', 'east']);
    expect(await bad.exit).toBe(7);
    expect(bad.err).toMatch(/not one this flock issued/);
    const reusable = (await flock.api('/v1/nodes/tokens', { method: 'POST', body: { ttlSeconds: 600 } })).body as IssuedJoinToken;
    const taken = await joinNode(hosts[1]!, ['--token', reusable.token, '--name', 'west']);
    expect(await taken.exit).toBe(6);
    expect(taken.err).toMatch(/node named "west" has joined already/);
    const local = await joinNode(hosts[1]!, ['--token', reusable.token, '--name', 'cp']);
    expect(await local.exit).toBe(6);
    expect((await flock.api('/v1/nodes/east')).status).toBe(404);
  });

  it("lets a node's credentials speak only for that node", async () => {
    const state = JSON.parse(await readFile(join(first.home, 'node', 'west.json'), 'utf8')) as { creds: string; natsUrl: string };
    expect(state.creds).toContain('BEGIN NATS USER JWT');
    const asWest = async () => {
      const errors: string[] = [];
      // A handshake slower than the server's auth timeout (a loaded machine) is tried again.
      const nc = await eventually(
        () => connect({ servers: state.natsUrl, authenticator: credsAuthenticator(new TextEncoder().encode(state.creds)), inboxPrefix: '_INBOX_node_west', reconnect: false }).catch(() => null),
        'a connection with the node west credentials',
        30_000,
      );
      void (async () => {
        for await (const st of nc.status()) if (st.type === 'error') errors.push(String(st.data));
      })();
      return { nc, errors };
    };
    // Another node's heartbeat subject, and an instance's results: the server refuses each.
    for (const subject of ['node.cp.heartbeat', 'agent.echo-aaaaaaaa.results']) {
      const { nc, errors } = await asWest();
      nc.publish(subject, JSON.stringify({ node: 'cp' }));
      await eventually(async () => errors.length > 0, `the server to refuse ${subject}`, 10_000);
      expect(errors[0], subject).toMatch(/PERMISSIONS_VIOLATION/);
      await nc.close().catch(() => undefined);
    }
    // On its own subject it may publish, but a heartbeat naming another node is refused by the control plane.
    const { nc, errors } = await asWest();
    nc.publish('node.west.heartbeat', JSON.stringify({ node: 'east', ts: new Date().toISOString(), intervalMs: 1000, version: 'x', capacity: { cpus: 1, memoryBytes: 1, runtimes: [], images: [], gpus: [] } }));
    await nc.flush();
    expect(errors).toEqual([]);
    await nc.close();
    await flock.logShowing('claims to be node \\"east\\": refused');
    expect((await flock.api('/v1/nodes/east')).status).toBe(404);
  });

  it('cordons and labels a node, and shows nodes in status and metrics', async () => {
    expect((await flock.cliJson<NodeInfo>(['node', 'cordon', 'west'])).cordoned).toBe(true);
    expect((await node('west')).cordoned).toBe(true);
    const drained = (await flock.api('/v1/nodes/west/drain', { method: 'POST' })).body as NodeInfo;
    expect([drained.cordoned, drained.draining]).toEqual([true, true]);
    const back = (await flock.api('/v1/nodes/west/uncordon', { method: 'POST' })).body as NodeInfo;
    expect([back.cordoned, back.draining]).toEqual([false, false]);
    const labelled = await flock.cliJson<NodeInfo>(['node', 'label', 'west', 'disk=ssd', 'zone-']);
    expect(labelled.labels).toEqual({ disk: 'ssd' });
    const bad = await flock.api('/v1/nodes/west/labels', { method: 'POST', body: { labels: { 'bad key': 'x' } } });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'validation_failed']);
    expect((await node('west')).labels).toEqual({ disk: 'ssd' });
    const status = (await flock.api('/v1/status')).body as SystemStatus;
    expect(status.nodes?.map((n) => [n.name, n.status])).toEqual([
      ['cp', 'ready'],
      ['west', 'ready'],
    ]);
    const metrics = await flock.api('/metrics');
    expect(String(metrics.body)).toMatch(/aiflock_nodes\{status="ready"\} 2/);
    expect(String(metrics.body)).toMatch(/aiflock_node_cpus\{node="west"\} [1-9]/);
    expect((await flock.api('/v1/nodes/cp', { method: 'DELETE' })).body.error.code).toBe('node_is_local');
  });

  it('marks a node that stops heartbeating lost', async () => {
    const reusable = (await flock.api('/v1/nodes/tokens', { method: 'POST', body: {} })).body as IssuedJoinToken;
    const east = await joinNode(hosts[1]!, ['--token', reusable.token, '--name', 'east', '--runtime', 'process']);
    await eventually(async () => (await node('east')).status === 'ready', 'node east ready', 60_000);
    // The whole node agent (the CLI and the agent it runs, one process group), at once.
    killGroup(east.child);
    await eventually(async () => (await node('east')).status === 'lost', 'node east lost', 60_000);
    expect((await node('west')).status).toBe('ready');
    // After a restart the host runs its node agent again from what it saved at the join: no new token.
    const again = await runNode(hosts[1]!, east.home);
    await eventually(async () => (await node('east')).status === 'ready', 'node east back', 60_000);
    killGroup(again);
  });

  it('removing a node revokes its credentials: its agent is cut off the bus', async () => {
    const removed = await flock.api('/v1/nodes/west', { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect(await first.exit).toBe(3);
    expect((await flock.api('/v1/nodes/west')).status).toBe(404);
  });
});

describe('a joined node runs sandboxes', () => {
  let north: Awaited<ReturnType<typeof joinNode>>;
  const agent = async (name: string) => (await flock.api(`/v1/agents/${name}`)).body as AgentView;
  /** An echo agent pinned to north, quarantined there: its sandbox's freezer cgroup frozen. */
  const quarantinedOnNorth = async (name: string) => {
    await deployYaml(flock, name, 'handlers: [echo]\nplacement: { node: north }\nheartbeat: { interval: 1s }\n');
    const id = (await agent(name)).instances[0]!.id;
    const cgroup = await eventually(async () => sandboxCgroup(id), "the sandbox's cgroup on north", 30_000);
    expect((await flock.api(`/v1/agents/${name}/quarantine`, { method: 'POST' })).status).toBe(200);
    await eventually(async () => ((await frozen(cgroup)) ? true : undefined), 'the sandbox frozen on north', 30_000);
    return { id, cgroup };
  };

  beforeAll(async () => {
    const token = (await flock.api('/v1/nodes/tokens', { method: 'POST', body: { singleUse: true } })).body as IssuedJoinToken;
    // Bubblewrap sandboxes inside the "host's" namespace: their bus relay dials from there.
    north = await joinNode(hosts[2]!, ['--token', token.token, '--name', 'north', '--label', 'pool=shared', '--runtime', 'process']);
    await eventually(async () => ((await node('north')).status === 'ready' ? true : undefined), 'node north ready', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; the node agent said: ${north.out} ${north.err}`);
    });
  }, 120_000);

  it('runs an agent pinned to it there, which answers a task', async () => {
    await deployYaml(flock, 'pinned', 'handlers: [echo]\nplacement: { node: north }\nheartbeat: { interval: 2s }\n');
    const a = await agent('pinned');
    expect(a.instances.map((i) => [i.node, i.status])).toEqual([['north', 'running']]);
    // The node reports it (its own runtime holds it), and the process runs in that host's namespace.
    expect((await node('north')).instances.map((i) => i.id)).toEqual([a.instances[0]!.id]);
    const t = await flock.cliJson<TaskView>(['task', 'run', 'pinned', '--type', 'echo', '--input', 'hello north', '--wait']);
    expect([t.status, t.output]).toEqual(['completed', 'hello north']);
    const pids = await nsPids(hosts[2]!.ns);
    // Its sandbox (bubblewrap, named for the instance) was started there, by north's node agent.
    const cmdlines = await Promise.all(pids.map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
    expect(cmdlines.some((c) => c.includes('bwrap') && c.includes(a.instances[0]!.id)), "the instance's sandbox in north's namespace").toBe(true);
  });

  it("lets the node read its own desired state and no other node's", async () => {
    const state = JSON.parse(await readFile(join(north.home, 'node', 'north.json'), 'utf8')) as { creds: string; natsUrl: string };
    const nc = await eventually(
      () => connect({ servers: state.natsUrl, authenticator: credsAuthenticator(new TextEncoder().encode(state.creds)), inboxPrefix: '_INBOX_node_north', reconnect: false }).catch(() => null),
      'a connection with the node north credentials',
      30_000,
    );
    const errors: string[] = [];
    void (async () => {
      for await (const st of nc.status()) if (st.type === 'error') errors.push(String(st.data));
    })();
    // Its own: the control plane sends it again with every heartbeat, credentials included.
    const own = nc.subscribe('nodectl.north.desired', { max: 1 });
    const got = (async () => {
      for await (const m of own) return JSON.parse(new TextDecoder().decode(m.data)) as { instances: { instanceId: string; creds: string | null }[] };
      return null;
    })();
    const desired = await got;
    expect(desired?.instances.map((i) => i.instanceId)).toEqual((await agent('pinned')).instances.map((i) => i.id));
    expect(desired?.instances[0]?.creds).toContain('BEGIN NATS USER JWT');
    // Another node's: the server refuses the subscription.
    expect(errors).toEqual([]);
    nc.subscribe('nodectl.cp.desired');
    await eventually(async () => (errors.length > 0 ? true : undefined), 'the server to refuse nodectl.cp.desired', 10_000);
    expect(errors[0]).toMatch(/PERMISSIONS_VIOLATION/);
    await nc.close().catch(() => undefined);
  });

  it('keeps new instances off a cordoned node: they wait, saying why', async () => {
    await flock.cliJson<NodeInfo>(['node', 'cordon', 'north']);
    await flock.cliJson(['agent', 'scale', 'pinned', '2']);
    const waiting = await eventually(async () => ((await agent('pinned')).pending ? agent('pinned') : undefined), 'pinned pending', 30_000);
    expect(waiting.pending).toBe('fits no node: node "north" cordoned');
    expect(waiting.instances).toHaveLength(1);
    const shown = await flock.cli(['agent', 'get', 'pinned']);
    expect(shown.stdout).toMatch(/pending: +fits no node: node "north" cordoned/);
    await flock.cliJson(['agent', 'scale', 'pinned', '1']);
    await flock.cliJson<NodeInfo>(['node', 'uncordon', 'north']);
  });

  it('keeps an agent asking for GPUs off a node whose runtime gives none, saying why', async () => {
    // north runs the process runtime (--runtime process): whatever GPUs it may have, its sandboxes cannot get them.
    expect((await node('north')).capacity?.gpuSandboxes).toBe(false);
    const file = join(flock.home, 'gpu.agent.yaml');
    await writeFile(file, 'name: gpu\nhandlers: [echo]\nplacement: { node: north }\nresources: { gpus: 1 }\n');
    const dep = await flock.cli(['agent', 'deploy', file]);
    expect(dep.code, dep.stderr).toBe(0);
    const waiting = await eventually(async () => ((await agent('gpu')).pending ? agent('gpu') : undefined), 'gpu pending', 30_000);
    expect(waiting.pending).toBe('fits no node: node "north" runs its sandboxes with a runtime that cannot give them GPUs (docker can), 1 asked');
    expect(waiting.instances).toEqual([]);
    await flock.cliJson(['agent', 'remove', 'gpu']);
  });

  it('drains a node: the replacement answers elsewhere first; the running task finishes in place, on the old instance, once', async () => {
    // The pinned agent could not move and would keep the node from being drained: out of the way for now.
    await flock.cliJson(['agent', 'scale', 'pinned', '0']);
    await flock.cliJson<NodeInfo>(['node', 'cordon', 'cp']);
    await deployYaml(flock, 'drainer', 'handlers: [shell]\ntools: { shell: true }\nmaxAttempts: 3\nplacement: { labels: { pool: shared } }\nheartbeat: { interval: 1s }\n');
    const before = await agent('drainer');
    expect(before.instances.map((i) => [i.node, i.status])).toEqual([['north', 'running']]);
    const old = before.instances[0]!.id;
    try {
      await flock.cliJson<NodeInfo>(['node', 'uncordon', 'cp']);
      // The task runs until this test lets it end (a file in the agent's workspace on north), so it
      // is surely still running when the old instance is told to stop.
      const go = join(`/var/lib/aiflock-node-${runtimeScope(flock.name, 'north')}`, 'shared', 'agents', 'drainer', 'drain-go');
      const task = await flock.cliJson<TaskView>(['task', 'run', 'drainer', '--type', 'shell', '--input', 'while [ ! -e drain-go ]; do sleep 0.2; done; echo drained-in-place']);
      await eventually(async () => ((await flock.api(`/v1/tasks/${task.id}`)).body as TaskView).status === 'running' || undefined, 'the task running on north', 30_000);

      const draining = await flock.cliJson<NodeInfo>(['node', 'drain', 'north']);
      expect([draining.cordoned, draining.draining, draining.drained]).toEqual([true, true, false]);
      expect((await flock.cli(['node', 'get', 'north'])).stdout).toMatch(/status: +ready,draining;/);

      // Once its replacement answers on cp, the old instance is told to stop: it takes no new task
      // and waits for the one it runs (up to the agent's task timeout, 5 min by default).
      const logAt = (instanceId: string, msg: string) => {
        const db = new Database(join(flock.home, 'flock.db'), { readonly: true });
        try {
          return (db.prepare(`select min(ts) as ts from logs where instance_id = ? and msg like ?`).get(instanceId, msg) as { ts: string | null }).ts;
        } finally {
          db.close();
        }
      };
      const waiting = await eventually(async () => logAt(old, 'waiting up to 300000 ms for 1 task(s) to finish') ?? undefined, 'the old instance waiting for its task', 90_000);
      const after = await agent('drainer');
      const replacement = after.instances.find((i) => i.id !== old)!;
      expect(replacement.node).toBe('cp');
      const readyAt = logAt(replacement.id, 'ready');
      expect(readyAt, 'the replacement said ready').toBeTruthy();
      expect(Date.parse(readyAt!)).toBeLessThanOrEqual(Date.parse(waiting));
      // Still there, finishing: the node is not drained yet, and the task has not moved.
      expect((await node('north')).drained).toBe(false);
      expect(((await flock.api(`/v1/tasks/${task.id}`)).body as TaskView).instanceId).toBe(old);

      await writeFile(go, '');
      const done = await eventually(async () => {
        const t = (await flock.api(`/v1/tasks/${task.id}`)).body as TaskView;
        return FINAL.has(t.status) ? t : undefined;
      }, 'the drained task to end', 60_000);
      expect([done.status, (done.output as { stdout: string }).stdout.trim(), done.attempt, done.instanceId]).toEqual(['completed', 'drained-in-place', 1, old]);
      await eventually(async () => ((await node('north')).drained ? true : undefined), 'north drained', 60_000);
      expect((await flock.cli(['node', 'get', 'north'])).stdout).toMatch(/status: +ready,drained;/);
      expect((await agent('drainer')).instances.map((i) => [i.id, i.node, i.status])).toEqual([[replacement.id, 'cp', 'running']]);
      // The old instance said it completed the task and removed it only after that.
      const completedAt = logAt(old, 'task completed');
      const removedAt = logAt(old, 'instance removed: node north is draining');
      expect(completedAt, 'the old instance completed the task').toBeTruthy();
      expect(removedAt, 'the old instance removed for the drain').toBeTruthy();
      expect(Date.parse(completedAt!)).toBeLessThanOrEqual(Date.parse(removedAt!));
      const db = new Database(join(flock.home, 'flock.db'), { readonly: true });
      try {
        expect(db.prepare(`select status, count(*) as n from tasks where agent = 'drainer' group by status`).all()).toEqual([{ status: 'completed', n: 1 }]);
        expect(db.prepare(`select instance_id from logs where task_id = ? and msg like 'task completed'`).all(task.id)).toEqual([{ instance_id: old }]);
      } finally {
        db.close();
      }

    } finally {
      // Back in service (whatever happened above): the pinned agent returns to north.
      await flock.cliJson(['agent', 'remove', 'drainer']);
      await flock.cliJson<NodeInfo>(['node', 'uncordon', 'north']);
      await flock.cliJson<NodeInfo>(['node', 'uncordon', 'cp']);
      await flock.cliJson(['agent', 'scale', 'pinned', '1']);
    }
  }, 240_000);

  it("the kill switch reaches a joined node: quarantine freezes the sandbox there, release thaws it, kill ends it", async () => {
    const { id, cgroup } = await quarantinedOnNorth('suspect');
    // Paused, not stopped: its processes (and files) are still there for inspection.
    expect(await sandboxCgroup(id)).toBe(cgroup);
    expect((await agent('suspect')).status).toBe('quarantined');

    expect((await flock.api('/v1/agents/suspect/release', { method: 'POST' })).status).toBe(200);
    await eventually(async () => ((await frozen(cgroup)) ? undefined : true), 'the sandbox thawed on north', 30_000);
    // Back on the bus with its credentials restored: it answers a task.
    const t = await flock.cliJson<TaskView>(['task', 'run', 'suspect', '--type', 'echo', '--input', 'thawed', '--wait']);
    // Resumed, not replaced: the same instance answers.
    expect([t.status, t.output, t.instanceId]).toEqual(['completed', 'thawed', id]);

    expect((await flock.api('/v1/agents/suspect/kill', { method: 'POST' })).status).toBe(200);
    await eventually(async () => ((await sandboxCgroup(id)) === null ? true : undefined), 'the sandbox gone from north', 30_000);
    const logs = JSON.stringify((await flock.api('/v1/agents/suspect/logs?tail=200')).body);
    expect(logs).toMatch(/node north pauses it/);
    expect(logs).toMatch(/node north SIGKILLs it/);
    await flock.cliJson(['agent', 'remove', 'suspect']);
  }, 120_000);

  it('keeps a quarantined instance on a joined node frozen across a restart of the control plane, until released', async () => {
    const { id, cgroup } = await quarantinedOnNorth('evidence');

    const down = await flock.cli(['down', '--keep-agents']);
    expect(down.code, down.stderr).toBe(0);
    const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
    expect(up.code, up.stderr).toBe(0);
    const upAt = Date.now();
    // The node agent reconnects by itself and is heard again.
    await eventually(async () => {
      const n = await node('north');
      return n.status === 'ready' && n.lastHeartbeatAt && Date.parse(n.lastHeartbeatAt) > upAt ? true : undefined;
    }, 'north heard again after the restart', 60_000);
    // What the new control plane tells north (read as north reads it): keep it, frozen, with no credentials.
    const state = JSON.parse(await readFile(join(north.home, 'node', 'north.json'), 'utf8')) as { creds: string; natsUrl: string };
    const { nc } = await busAs(state.natsUrl, state.creds, '_INBOX_node_north');
    try {
      const sub = nc.subscribe('nodectl.north.desired', { max: 2 });
      for await (const m of sub) {
        const desired = JSON.parse(new TextDecoder().decode(m.data)) as { instances: { instanceId: string; frozen: boolean; creds: string | null }[] };
        expect(desired.instances.find((i) => i.instanceId === id)).toMatchObject({ frozen: true, creds: null });
      }
    } finally {
      await nc.close().catch(() => undefined);
    }
    // Still there, still frozen: the evidence kept.
    expect(await sandboxCgroup(id)).toBe(cgroup);
    expect(await frozen(cgroup)).toBe(true);
    expect(north.err).not.toContain(`stopping ${id}`);
    const a = await agent('evidence');
    expect([a.status, a.instances.map((i) => i.id)]).toEqual(['quarantined', [id]]);

    // Released: thawed, with fresh credentials it answers a task.
    expect((await flock.api('/v1/agents/evidence/release', { method: 'POST' })).status).toBe(200);
    await eventually(async () => ((await frozen(cgroup)) ? undefined : true), 'the sandbox thawed on north', 30_000);
    const t = await flock.cliJson<TaskView>(['task', 'run', 'evidence', '--type', 'echo', '--input', 'after the restart', '--wait']);
    expect([t.status, t.output, t.instanceId]).toEqual(['completed', 'after the restart', id]);
    await flock.cliJson(['agent', 'remove', 'evidence']);
  }, 300_000);

  it('runs a command in an instance on a joined node and measures it, through its node agent; no instance or other node may call that', async () => {
    const running = await eventually(async () => {
      const a = await agent('pinned');
      return a.instances.length === 1 && a.instances[0]!.node === 'north' && a.instances[0]!.status === 'running' ? a.instances[0] : undefined;
    }, 'pinned running on north', 60_000);
    const id = running!.id;
    const r = await flock.cli(['agent', 'exec', 'pinned', '--json', '--', 'sh', '-c', 'echo hi; echo from-north >&2; exit 3']);
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ instance: id, exitCode: 3, stdout: 'hi\n', stderr: 'from-north\n' });
    // Input (-i) streamed to the command on north.
    const piped = await cliWithInput(['agent', 'exec', 'pinned', '-i', '--json', '--', 'sh', '-c', 'read x; echo "got $x"'], 'typed\n');
    expect([piped.code, JSON.parse(piped.stdout || '{}').stdout], piped.stderr).toEqual([0, 'got typed\n']);
    // Audited as a local exec is, naming the node.
    const audit = ((await flock.api('/v1/audit?resource=agent/pinned&limit=50')).body as { entries: { action: string; details: Record<string, unknown> }[] }).entries;
    expect(audit.find((e) => e.action === 'agent.exec' && (e.details['command'] as string[])[2]?.includes('echo hi'))?.details).toMatchObject({ instance: id, node: 'north' });
    expect(audit.some((e) => e.action === 'agent.exec.end' && e.details['exitCode'] === 3 && e.details['node'] === 'north')).toBe(true);
    // Its CPU and memory, measured on north (by its cgroup there), in stats.
    const stats = await flock.cliJson<{ perInstance: InstanceStats[] }>(['stats']);
    const usage = stats.perInstance.find((i) => i.id === id)?.usage;
    expect(usage?.memoryBytes).toBeGreaterThan(0);
    expect(usage?.pids).toBeGreaterThan(0);

    // What an attacker holding the instance's own credentials can do, from north where they work: not call north's exec.
    const state = JSON.parse(await readFile(join(north.home, 'node', 'north.json'), 'utf8')) as { creds: string; natsUrl: string };
    const asNorth = await busAs(state.natsUrl, state.creds, '_INBOX_node_north');
    const desired = await (async () => {
      for await (const m of asNorth.nc.subscribe('nodectl.north.desired', { max: 1 })) return JSON.parse(new TextDecoder().decode(m.data)) as { instances: { instanceId: string; creds: string | null }[] };
      return null;
    })();
    await asNorth.nc.close();
    const instanceCreds = desired!.instances.find((i) => i.instanceId === id)!.creds!;
    const { hostname, port } = new URL(state.natsUrl.replace('nats:', 'http:'));
    const relay = await relayFromNamespace(`/run/netns/${hosts[2]!.ns}`, { host: hostname, port: Number(port) });
    try {
      const asInstance = await busAs(`nats://127.0.0.1:${relay.port}`, instanceCreds, `_INBOX.${id}`);
      // Control: connected, and allowed its own subjects.
      asInstance.nc.publish(`agent.${id}.heartbeat`, '{}');
      await asInstance.nc.flush();
      expect(asInstance.errors).toEqual([]);
      await expect(asInstance.nc.request('nodectl.north.exec', JSON.stringify({ session: 'A'.repeat(22), instanceId: id, command: ['id'], tty: false, stdin: false }), { timeout: 3_000 })).rejects.toThrow();
      asInstance.nc.subscribe('nodectl.north.exec');
      // Nor read or write an exec session's frames (input on nodectl.north.exec.<id>, output on node.north.exec.<id>).
      asInstance.nc.subscribe('nodectl.north.exec.*');
      asInstance.nc.subscribe('node.north.exec.*');
      asInstance.nc.publish(`nodectl.north.exec.${'A'.repeat(22)}`, JSON.stringify({ k: 'stdin', seq: 1, data: '' }));
      await eventually(async () => (asInstance.errors.filter((e) => /PERMISSIONS_VIOLATION/.test(e)).length >= 5 ? true : undefined), 'the server to refuse the instance all', 10_000);
      expect(asInstance.errors).toEqual(
        expect.arrayContaining([
          'PERMISSIONS_VIOLATION publish nodectl.north.exec',
          'PERMISSIONS_VIOLATION subscription nodectl.north.exec',
          'PERMISSIONS_VIOLATION subscription nodectl.north.exec.*',
          'PERMISSIONS_VIOLATION subscription node.north.exec.*',
          `PERMISSIONS_VIOLATION publish nodectl.north.exec.${'A'.repeat(22)}`,
        ]),
      );
      await asInstance.nc.close().catch(() => undefined);
    } finally {
      relay.close();
    }
    // Another node's credentials (east: joined, now silent) may neither call it nor answer it.
    const eastHome = agents.find((a) => existsSync(join(a.home, 'node', 'east.json')))!.home;
    const east = JSON.parse(await readFile(join(eastHome, 'node', 'east.json'), 'utf8')) as { creds: string; natsUrl: string };
    const asEast = await busAs(east.natsUrl, east.creds, '_INBOX_node_east');
    asEast.nc.publish('nodectl.north.exec', '{}');
    asEast.nc.subscribe('nodectl.north.exec');
    // Nor read north's exec sessions, forge their output or inject their input.
    asEast.nc.subscribe('nodectl.north.exec.*');
    asEast.nc.subscribe('node.north.exec.*');
    asEast.nc.publish(`node.north.exec.${'A'.repeat(22)}`, JSON.stringify({ k: 'stdout', seq: 1, data: '' }));
    asEast.nc.publish(`nodectl.north.exec.${'A'.repeat(22)}`, JSON.stringify({ k: 'stdin', seq: 1, data: '' }));
    await eventually(async () => (asEast.errors.filter((e) => /PERMISSIONS_VIOLATION/.test(e)).length >= 6 ? true : undefined), 'the server to refuse east all', 10_000);
    expect(asEast.errors).toEqual(
      expect.arrayContaining([
        'PERMISSIONS_VIOLATION publish nodectl.north.exec',
        'PERMISSIONS_VIOLATION subscription nodectl.north.exec',
        'PERMISSIONS_VIOLATION subscription nodectl.north.exec.*',
        'PERMISSIONS_VIOLATION subscription node.north.exec.*',
        `PERMISSIONS_VIOLATION publish node.north.exec.${'A'.repeat(22)}`,
        `PERMISSIONS_VIOLATION publish nodectl.north.exec.${'A'.repeat(22)}`,
      ]),
    );
    await asEast.nc.close().catch(() => undefined);
    // North still answers the control plane alone.
    const again = await flock.cli(['agent', 'exec', 'pinned', '--json', '--', 'echo', 'still-north']);
    expect([again.code, JSON.parse(again.stdout).stdout]).toEqual([0, 'still-north\n']);
  }, 120_000);

  it("moves a lost node's instances to the control plane's node, every task done once", async () => {
    // Placed while the control plane's node is cordoned: it can only land on north.
    await flock.cliJson<NodeInfo>(['node', 'cordon', 'cp']);
    await deployYaml(flock, 'mover', 'handlers: [shell]\ntools: { shell: true }\nconcurrency: 4\nmaxAttempts: 5\nplacement: { labels: { pool: shared } }\nheartbeat: { interval: 2s }\n');
    expect((await agent('mover')).instances.map((i) => i.node)).toEqual(['north']);
    await flock.cliJson<NodeInfo>(['node', 'uncordon', 'cp']);

    const TASKS = 30;
    const tasks = Array.from({ length: TASKS }, (_, n) => ({ agent: 'mover', type: 'shell', input: `sleep 0.3; echo task-${n}`, idempotencyKey: `mover-${n}` }));
    const r = await flock.api('/v1/tasks:batch', { method: 'POST', body: { tasks } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const ids = (r.body as TaskBatchResponse).results.map((x) => (x.ok ? x.task.id : ''));
    await eventually(async () => ((await completed('mover')) >= 4 ? true : undefined), 'the first tasks done on north', 60_000);
    // The host dies: its node agent at once (SIGKILL); its sandbox loses its way to the bus with it.
    killGroup(north.child);
    await eventually(async () => ((await node('north')).status === 'lost' ? true : undefined), 'north lost', 60_000);
    const moved = await eventually(async () => {
      const a = await agent('mover');
      return a.instances.length === 1 && a.instances[0]!.node === 'cp' && a.instances[0]!.status === 'running' ? a : undefined;
    }, 'mover running on cp', 120_000);
    expect(moved.instances[0]!.node).toBe('cp');
    await eventually(async () => ((await completed('mover')) >= TASKS ? true : undefined), `all ${TASKS} tasks completed`, 120_000);
    const db = new Database(join(flock.home, 'flock.db'), { readonly: true });
    try {
      const rows = db.prepare(`select id, status, output from tasks where agent = 'mover'`).all() as { id: string; status: string; output: string }[];
      expect(rows).toHaveLength(TASKS);
      const byId = new Map(rows.map((x) => [x.id, x]));
      ids.forEach((id, n) => {
        expect(byId.get(id)?.status, id).toBe('completed');
        expect((JSON.parse(byId.get(id)!.output) as { stdout: string }).stdout.trim(), id).toBe(`task-${n}`);
      });
      const finals = new Map((db.prepare(`select task_id, count(*) as n from logs where agent = 'mover' and msg like 'task completed' group by task_id`).all() as { task_id: string; n: number }[]).map((x) => [x.task_id, x.n]));
      expect(ids.filter((id) => finals.get(id) !== 1), 'tasks not completed exactly once').toEqual([]);
    } finally {
      db.close();
    }
    // The pinned agent cannot move: it waits for north, saying so.
    expect((await agent('pinned')).pending).toMatch(/node "north" not ready/);
  }, 300_000);
});

/** The CLI with `input` on its stdin. */
function cliWithInput(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: flock.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A connection with `creds` (a handshake slower than the server's auth timeout is tried again), collecting what the server refuses. */
async function busAs(url: string, creds: string, inboxPrefix: string): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await eventually(
    () => connect({ servers: url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), inboxPrefix, reconnect: false }).catch(() => null),
    `a connection to ${url} with ${inboxPrefix}'s credentials`,
    30_000,
  );
  const errors: string[] = [];
  void (async () => {
    // e.g. "PERMISSIONS_VIOLATION publish nodectl.north.exec"
    for await (const st of nc.status()) if (st.type === 'error') errors.push([String(st.data), st.permissionContext?.operation, st.permissionContext?.subject].filter(Boolean).join(' '));
  })();
  return { nc, errors };
}

const completed = async (agentName: string): Promise<number> => {
  const db = new Database(join(flock.home, 'flock.db'), { readonly: true });
  try {
    return (db.prepare(`select count(*) as n from tasks where agent = ? and status = 'completed'`).get(agentName) as { n: number }).n;
  } finally {
    db.close();
  }
};

/**
 * The freezer cgroup north's runtime made for the sandbox of `instanceId` (cgroup v2's one tree,
 * or v1's freezer hierarchy), while processes of it live; else null.
 */
async function sandboxCgroup(instanceId: string): Promise<string | null> {
  const rel = `aiflock-${runtimeScope(flock.name, 'north')}/${instanceId}`;
  const dir = existsSync('/sys/fs/cgroup/cgroup.controllers') ? `/sys/fs/cgroup/${rel}` : `/sys/fs/cgroup/freezer/${rel}`;
  const procs = (await readFile(`${dir}/cgroup.procs`, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean);
  return procs.length > 0 ? dir : null;
}

/** The freezer's own word: `frozen 1` in v2's cgroup.events, FROZEN in v1's freezer.state. */
async function frozen(dir: string): Promise<boolean> {
  if (dir.startsWith('/sys/fs/cgroup/freezer/')) return (await readFile(`${dir}/freezer.state`, 'utf8').catch(() => '')).trim() === 'FROZEN';
  return /^frozen 1$/m.test(await readFile(`${dir}/cgroup.events`, 'utf8').catch(() => ''));
}

/** Every process in a namespace (`ip netns pids`). */
async function nsPids(ns: string): Promise<string[]> {
  const out = await new Promise<string>((resolve) => {
    const c = spawn('ip', ['netns', 'pids', ns], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    c.stdout.on('data', (d: Buffer) => (text += d.toString()));
    c.once('exit', () => resolve(text));
  });
  return out.split(/\s+/).filter(Boolean);
}

/** The CLI and the node agent it runs share a process group (spawned detached). */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
