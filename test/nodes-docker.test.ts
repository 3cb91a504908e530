import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, IssuedJoinToken, NodeInfo, TaskView } from '@aiflock/protocol';
import { nodeRuntime, runtimeScope } from '../packages/daemon/src/node-agent/node-runtime.js';
import { deployYaml } from '../testkit/agents.js';
import { CLI } from '../testkit/cli.js';
import { removeNodeLeftovers } from '../testkit/node-leftovers.js';
import { openTerminal } from '../testkit/tmux.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * A joined node whose sandboxes are Docker containers: the node agent runs on this machine's
 * own network (where the Docker engine's bridges are), with a runtime scope of its own, so its
 * network, firewall chains and containers are not the control plane's. Its sandboxes dial the
 * bus at their own bridge's gateway, which the node relays to the flock's servers, and their
 * credentials (bound to the node's address) work through it.
 */
let flock: TestFlock;
let nodeAgent: ChildProcess | null = null;
let home = '';
let nodeLog = '';
const docker = new Dockerode();
const NODE = 'dock';

const agent = async (name: string) => (await flock.api(`/v1/agents/${name}`)).body as AgentView;
/** The node's containers, by the labels its runtime puts on them. */
const nodeContainers = async () => docker.listContainers({ all: true, filters: { label: [`aiflock.flock=${runtimeScope(flock.name, NODE)}`] } });

beforeAll(async () => {
  flock = await testFlock({ env: { AIFLOCK_NODE: 'cp', AIFLOCK_NODE_HEARTBEAT_MS: '1000' } });
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
  const token = (await flock.api('/v1/nodes/tokens', { method: 'POST', body: { singleUse: true } })).body as IssuedJoinToken;
  home = await mkdtemp(join(tmpdir(), 'aiflock-node-'));
  nodeAgent = spawn(process.execPath, [CLI, 'node', 'join', `http://127.0.0.1:${flock.env['AIFLOCK_API_PORT']}`, '--token', token.token, '--name', NODE, '--runtime', 'docker'], {
    env: { PATH: process.env['PATH'] ?? '', AIFLOCK_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  nodeAgent.stdout!.on('data', (d: Buffer) => (nodeLog += d.toString()));
  nodeAgent.stderr!.on('data', (d: Buffer) => (nodeLog += d.toString()));
  await eventually(async () => ((await flock.api(`/v1/nodes/${NODE}`)).body as NodeInfo).status === 'ready', `node ${NODE} ready`, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}; the node agent said: ${nodeLog}`);
  });
}, 300_000);

// The node agent's own account (what it started, what failed) is only in its output.
afterEach(({ task }) => {
  if (task.result?.state === 'fail') process.stderr.write(`--- node ${NODE}'s agent said (test failed: ${task.name}) ---\n${nodeLog.split('\n').slice(-60).join('\n')}\n---\n`);
});

afterAll(async () => {
  if (nodeAgent?.pid) {
    try {
      process.kill(-nodeAgent.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (flock) {
    // Docker sandboxes outlive their node agent: the node's runtime removes its containers, network and firewall.
    await nodeRuntime({ flock: flock.name, name: NODE, natsUrl: 'nats://127.0.0.1:4222' }, 'docker', () => undefined).dispose().catch((err: unknown) => console.error(`removing node ${NODE}'s sandboxes: ${String(err)}`));
    await removeNodeLeftovers(flock.name, NODE);
  }
  if (home) await rm(home, { recursive: true, force: true });
  await flock?.cleanup();
});

describe('a joined node with the docker runtime', () => {
  it('runs an agent pinned to it in a container on its own network, which answers a task over the relayed bus', async () => {
    await deployYaml(flock, 'docked', `handlers: [echo, shell]\ntools: { shell: true }\nplacement: { node: ${NODE} }\nheartbeat: { interval: 1s }\n`);
    const a = await agent('docked');
    expect(a.instances.map((i) => [i.node, i.status])).toEqual([[NODE, 'running']]);
    const id = a.instances[0]!.id;
    const t = await flock.cliJson<TaskView>(['task', 'run', 'docked', '--type', 'echo', '--input', 'hello dock', '--wait']);
    expect([t.status, t.output]).toEqual(['completed', 'hello dock']);
    // A container of the node's runtime (its scope's labels), on the node's network, not the control plane's.
    const [c] = (await nodeContainers()).filter((x) => x.Labels['aiflock.instance'] === id);
    expect(c?.State).toBe('running');
    expect(Object.keys(c!.NetworkSettings.Networks)).toEqual([`aiflock-${runtimeScope(flock.name, NODE)}`]);
    const cp = await docker.listContainers({ filters: { label: [`aiflock.instance=${id}`, `aiflock.flock=${flock.name}`] } });
    expect(cp).toEqual([]);
    // Its bus URL is its own bridge's gateway, relayed by the node (the flock's server listens elsewhere).
    const env = (await docker.getContainer(c!.Id).inspect()).Config.Env;
    const busUrl = env.find((e) => e.startsWith('AIFLOCK_NATS_URL='));
    const gateway = ((await docker.getNetwork(`aiflock-${runtimeScope(flock.name, NODE)}`).inspect()) as { IPAM: { Config: { Gateway: string }[] } }).IPAM.Config[0]!.Gateway;
    expect(busUrl).toContain(`nats://${gateway}:`);
  });

  it('runs a command in it through the node agent (as the sandbox user), and shows its usage', async () => {
    const r = await flock.cli(['agent', 'exec', 'docked', '--json', '--', 'sh', '-c', 'id -u; exit 4']);
    expect(r.code, r.stderr).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 4, stdout: '1001\n' });
    // Streamed, not one reply: more than the 256 KiB the bus once cut it at, whole.
    const big = await flock.cli(['agent', 'exec', 'docked', '--json', '--', 'sh', '-c', "head -c 600000 /dev/zero | tr '\\0' a"]);
    expect(big.code, big.stderr).toBe(0);
    expect((JSON.parse(big.stdout) as { stdout: string }).stdout).toBe('a'.repeat(600_000));
    const stats = await flock.cliJson<{ perInstance: { id: string; usage?: { memoryBytes: number } }[] }>(['stats']);
    const id = (await agent('docked')).instances[0]!.id;
    expect(stats.perInstance.find((i) => i.id === id)?.usage?.memoryBytes).toBeGreaterThan(0);
  });

  it('a client that stops reading stops the command on the node (it blocks on its output), and gets every byte once it reads again', async () => {
    const total = 32 * 1024 * 1024;
    const q = new URLSearchParams();
    for (const arg of ['sh', '-c', `rm -f /tmp/wrote-all; head -c ${total} /dev/zero; touch /tmp/wrote-all`]) q.append('cmd', arg);
    const ws = new WebSocket(`ws://127.0.0.1:${flock.env['AIFLOCK_API_PORT']}/v1/agents/docked/exec?${q}`, { headers: { authorization: `Bearer ${await flock.adminToken()}` } });
    let bytes = 0;
    const exit = new Promise<number>((resolve, reject) => {
      ws.on('message', (raw) => {
        const m = JSON.parse(String(raw)) as { type: string; data?: string; code?: number; message?: string };
        if (m.type === 'stdout') bytes += Buffer.from(m.data!, 'base64').byteLength;
        else if (m.type === 'exit') resolve(m.code!);
        else if (m.type === 'error') reject(new Error(m.message));
      });
      ws.once('error', reject);
    });
    await new Promise((r) => ws.once('open', r));
    // The client reads nothing more: the daemon's socket fills, then the session's window, then the node's backlog.
    ws.pause();
    await eventually(async () => (/the client is behind; the command's output is paused/.test(nodeLog) ? true : undefined), 'the node pausing the command', 60_000);
    // What the way holds (sockets, window, backlog) is a few MiB: the command cannot have written its 32.
    const meanwhile = await flock.cli(['agent', 'exec', 'docked', '--json', '--', 'sh', '-c', 'test -e /tmp/wrote-all && echo wrote-all || echo blocked']);
    expect(JSON.parse(meanwhile.stdout)).toMatchObject({ exitCode: 0, stdout: 'blocked\n' });
    ws.resume();
    expect(await exit).toBe(0);
    expect(bytes).toBe(total);
    ws.close();
  });

  it('gives a shell on a terminal there (-it), of the client\'s size, following its resizes; its exit status is the CLI\'s', { timeout: 180_000 }, async () => {
    const term = await openTerminal(`"${process.execPath}" "${CLI}" agent exec docked -it`, { cols: 100, rows: 20, env: flock.env });
    const screenShowing = (what: (screen: string) => boolean, label: string) =>
      eventually(async () => {
        const screen = await term.capture();
        return what(screen) ? screen : '';
      }, label, 60_000).catch(async (err: unknown) => {
        throw new Error(`${String(err)}; the screen:\n${await term.capture()}`);
      });
    // The image has no stty: node (the agent's runtime) reports the terminal.
    const size = `node -e 'console.log("size", require("tty").isatty(0), process.stdout.columns, process.stdout.rows)'`;
    try {
      // The prompt while the shell still runs: output streamed as it comes.
      await screenShowing((s) => /^\$ ?$/m.test(s), 'a shell prompt from the node');
      await term.send(size, true);
      await term.send('Enter');
      await screenShowing((s) => /^size true 100 20$/m.test(s), 'the terminal at 100x20');
      await term.resize(120, 30);
      await term.send(size, true);
      await term.send('Enter');
      await screenShowing((s) => /^size true 120 30$/m.test(s), 'the terminal resized to 120x30 on the node');
      await term.send('exit 5', true);
      await term.send('Enter');
      const status = await eventually(async () => term.exitStatus().then((code) => (code === null ? null : { code })), 'the CLI to exit', 30_000);
      expect(status.code).toBe(5);
    } finally {
      await term.kill();
    }
  });

  it('the kill switch reaches it: quarantine pauses the container there, release resumes the same one, which answers again', async () => {
    const id = (await agent('docked')).instances[0]!.id;
    const container = async () => (await nodeContainers()).find((x) => x.Labels['aiflock.instance'] === id);
    const before = (await container())!.Id;
    expect((await flock.api('/v1/agents/docked/quarantine', { method: 'POST' })).status).toBe(200);
    await eventually(async () => (await container())?.State === 'paused', 'the container paused on the node', 30_000);
    expect((await flock.api('/v1/agents/docked/release', { method: 'POST' })).status).toBe(200);
    await eventually(async () => (await container())?.State === 'running', 'the container running again', 30_000);
    expect((await container())!.Id).toBe(before);
    const t = await eventually(async () => {
      const v = await flock.cliJson<TaskView>(['task', 'run', 'docked', '--type', 'echo', '--input', 'back', '--wait', '--timeout', '20s']).catch(() => null);
      return v?.status === 'completed' ? v : null;
    }, 'a task answered after the release', 90_000);
    expect(t.output).toBe('back');
  });

  // Last: it stops the node agent.
  it('a node agent stopped by SIGTERM ends the exec sessions through it at once, saying why (not after the dead link\'s 15 s), and exits 0', { timeout: 120_000 }, async () => {
    const agentProcess = nodeAgent!;
    // Just released from quarantine: exec is refused until the instance is seen running again.
    await eventually(async () => (await flock.cli(['agent', 'exec', 'docked', '--', 'true'])).code === 0, 'exec to work again after the release', 30_000);
    const command = ['sh', '-c', 'echo started; exec sleep 300'];
    // One session over the raw WebSocket, one through the CLI (spawned: its output is watched while it runs).
    const q = new URLSearchParams();
    for (const arg of command) q.append('cmd', arg);
    const ws = new WebSocket(`ws://127.0.0.1:${flock.env['AIFLOCK_API_PORT']}/v1/agents/docked/exec?${q}`, { headers: { authorization: `Bearer ${await flock.adminToken()}` } });
    const viaWs = { stdout: '', stderr: '', exit: null as number | null, error: null as string | null };
    const wsEnded = new Promise<number>((resolve) => {
      ws.on('message', (raw) => {
        const m = JSON.parse(String(raw)) as { type: string; data?: string; code?: number | string; message?: string };
        if (m.type === 'stdout' || m.type === 'stderr') viaWs[m.type] += Buffer.from(m.data!, 'base64').toString();
        else if (m.type === 'exit') viaWs.exit = m.code as number;
        else if (m.type === 'error') viaWs.error = `${String(m.code)}: ${m.message}`;
      });
      ws.once('close', () => resolve(Date.now()));
      ws.once('unexpected-response', (_req, res) => {
        res.on('data', (d: Buffer) => (viaWs.error = `${res.statusCode ?? 0}: ${d.toString()}`));
        res.on('end', () => resolve(Date.now()));
      });
    });
    const cli = spawn(process.execPath, [CLI, 'agent', 'exec', 'docked', '--', ...command], { env: flock.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const viaCli = { stdout: '', stderr: '' };
    cli.stdout!.on('data', (d: Buffer) => (viaCli.stdout += d.toString()));
    cli.stderr!.on('data', (d: Buffer) => (viaCli.stderr += d.toString()));
    const cliEnded = new Promise<{ code: number | string; at: number }>((resolve) => cli.once('exit', (code, signal) => resolve({ code: code ?? String(signal), at: Date.now() })));
    try {
      await eventually(async () => viaWs.stdout === 'started\n' && viaCli.stdout === 'started\n', 'both commands running on the node', 30_000).catch((err: Error) => {
        throw new Error(`${err.message}; the WebSocket: ${JSON.stringify(viaWs)}; the CLI: ${JSON.stringify(viaCli)}`);
      });
      const agentExited = new Promise<number | string>((resolve) => agentProcess.once('exit', (code, signal) => resolve(code ?? String(signal))));
      // To `aiflock node join` and the node agent it runs, each, as systemd's stop sends it (a terminal's ^C, SIGINT, too).
      const stoppedAt = Date.now();
      process.kill(-agentProcess.pid!, 'SIGTERM');
      const [wsAt, viaCliEnd, agentCode] = await Promise.all([wsEnded, cliEnded, agentExited]);
      nodeAgent = null;
      // Soft: a failure shows every way the stop fell short, not only the first.
      expect.soft(agentCode).toBe(0);
      expect.soft(nodeLog).not.toMatch(/the bus closed the node's connection/);
      // The node's own word, relayed as a remote command's failure is: on stderr, exit code -1 (the CLI's 255).
      expect.soft(viaWs).toMatchObject({ exit: -1, error: null });
      expect.soft(viaWs.stderr).toMatch(/^aiflock: node dock: the node agent stops/);
      expect.soft(viaCliEnd.code).toBe(255);
      expect.soft(viaCli.stderr).toMatch(/^aiflock: node dock: the node agent stops/);
      // Well before the control plane would have given up on a silent node (15 s).
      expect.soft(wsAt - stoppedAt).toBeLessThan(8_000);
      expect.soft(viaCliEnd.at - stoppedAt).toBeLessThan(8_000);
    } finally {
      ws.terminate();
      cli.kill('SIGKILL');
    }
  });
});
