import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, CreatedToken, TaskView } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../../testkit/flock.js';
import { deployYaml } from '../../testkit/agents.js';
import { execIn, nodeProbe } from '../../testkit/docker.js';
import { freePort } from '../../testkit/ports.js';
import { randomLinkLocal, remoteHost, type RemoteHost } from '../../testkit/netns.js';
import { HTTP_VIA_PROXY, ensureImage, rand, scanFrom, tcpFrom } from './harness.js';

/*
 * Attacks that need the whole flock: the real CLI, daemon, NATS, SQLite and Docker. Secrets,
 * egress through the proxy, OOM bookkeeping, task deadlines and the kill switch.
 */
const docker = new Dockerode();
let flock: TestFlock;
/** The "API on the internet": a namespace of its own, routed from the host (testkit/netns.ts). */
let remote: RemoteHost;
let upstreamPort: number;
let upstreamIp: string;
/** A careless host service on every address of the host, which no proxy rule may reach. */
let hostService: Server;
let hostServicePort: number;
let hostServiceHits = 0;
const requests = () => remote.seen.filter((e) => e.kind === 'request');
const SECRET = `flock-secret-${rand(20)}`;
const HEADER_SECRET = `header-secret-${rand(20)}`;

const containersOf = async (agent: string) =>
  docker.listContainers({ all: true, filters: { label: [`aiflock.flock=${flock.name}`, `aiflock.agent=${agent}`] } });
const runningContainer = async (agent: string) =>
  eventually(async () => {
    const c = (await containersOf(agent)).find((x) => x.State === 'running');
    return c ? docker.getContainer(c.Id) : null;
  }, `a running container of ${agent}`);

const deploy = (name: string, yaml: string) => deployYaml(flock, name, yaml);

const task = (agent: string, command: string, extra: string[] = []) =>
  flock.cli(['task', 'run', agent, '--type', 'shell', '--input', command, '--wait', '--json', ...extra]).then((r) => JSON.parse(r.stdout) as TaskView);

beforeAll(async () => {
  ensureImage();
  // An "API on the internet" the egress rules allow by CIDR: a network namespace of this
  // test, routed from the host, as a remote host is. A link-local address there plays the
  // cloud metadata service.
  remote = await remoteHost({ extra: [randomLinkLocal()] });
  upstreamIp = remote.address;
  upstreamPort = 8080;
  await remote.serve([upstreamPort, 80]);
  hostServicePort = await freePort('0.0.0.0');
  hostService = createServer((s) => {
    hostServiceHits++;
    s.end('host service');
  });
  await new Promise<void>((r) => hostService.listen(hostServicePort, '0.0.0.0', r));

  // The upstream's range is special-purpose (benchmarking): only an admin may allow it by
  // CIDR, and only where the flock says admins may.
  flock = await testFlock({ env: { AIFLOCK_EGRESS_PRIVATE_CIDRS: 'admin' } });
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);

  const set = async (name: string, value: string) => {
    const r = await new Promise<{ code: number }>((done) => {
      // The value goes in on stdin, as users do.
      const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'packages', 'cli', 'dist', 'main.js'), 'secret', 'set', name], { env: flock.env });
      child.stdin.end(value);
      child.on('close', (code) => done({ code: code ?? 1 }));
    });
    expect(r.code).toBe(0);
  };
  await set('tok', SECRET);
  await set('api-key', HEADER_SECRET);

  await deploy(
    'scout',
    `handlers: [shell]
tools: { shell: true }
resources: { memory: 192Mi, taskTimeout: 4s }
network: { egress: ["${upstreamIp}/32", "allowed.invalid", "localhost"] }
secrets:
  - { name: tok, file: true }
  - { name: api-key, header: { host: "${upstreamIp}", name: Authorization, prefix: "Bearer ", tls: false } }
`,
  );
  await deploy('hermit', 'handlers: [shell]\ntools: { shell: true }\n');
  // An admin's careless rules: every private, loopback and link-local range, and the world.
  await deploy('breaker', 'handlers: [shell]\ntools: { shell: true }\nnetwork: { egress: ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "0.0.0.0/0"] }\n');
});

afterAll(async () => {
  hostService?.close();
  await flock?.cleanup();
  await remote?.close();
});

describe('isolation (flock): secrets', () => {
  it('the file secret reaches its sandbox as a 0400 file; no secret is in env, inspect, logs or the store', async () => {
    // Proven by hash: printing the value would put it in the task result (the agent's doing).
    const t = await task('scout', 'stat -c "%a %u" /run/secrets/tok; sha256sum < /run/secrets/tok | cut -d" " -f1; env | grep -c "secret-" ; ls /run/secrets');
    expect(t.status).toBe('completed');
    const lines = (t.output as { stdout: string }).stdout.trim().split('\n');
    expect(lines).toEqual(['400 1001', createHash('sha256').update(SECRET).digest('hex'), '0', 'tok']);
    const scout = await runningContainer('scout');
    const inspect = JSON.stringify(await scout.inspect());
    for (const v of [SECRET, HEADER_SECRET]) expect(inspect).not.toContain(v);
    // The header secret is nowhere in the sandbox.
    const search = await execIn(scout, ['sh', '-c', 'grep -rIls --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -e "$1" /; true', 'sh', HEADER_SECRET], 60_000);
    expect(search.stdout.trim()).toBe('');
    const daemonLog = await readFile(join(flock.home, 'daemon.log'), 'utf8');
    const db = await readFile(join(flock.home, 'flock.db'));
    for (const v of [SECRET, HEADER_SECRET]) {
      expect(daemonLog).not.toContain(v);
      expect(db.includes(v)).toBe(false);
    }
    const listed = await flock.cli(['secret', 'list', '--json']);
    expect(listed.stdout).not.toContain(SECRET);
    expect(JSON.parse(listed.stdout).map((s: { name: string }) => s.name)).toEqual(['api-key', 'tok']);
  });
});

describe('isolation (flock): egress', () => {
  it('reaches an allowed host through the proxy, which adds the brokered credential', async () => {
    const scout = await runningContainer('scout');
    const before = requests().length;
    const r = await nodeProbe<{ status: number; body: string }>(scout, HTTP_VIA_PROXY, [`http://${upstreamIp}:${upstreamPort}/repos`]);
    expect(r).toEqual({ status: 200, body: 'upstream says hi to /repos' });
    const got = requests().slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ kind: 'request', url: '/repos', headers: { authorization: `Bearer ${HEADER_SECRET}` } });
  });

  it('is refused a domain not on the list, a listed name resolving to a private address, and CONNECT to a denied port', async () => {
    const scout = await runningContainer('scout');
    expect((await nodeProbe<{ status: number }>(scout, HTTP_VIA_PROXY, ['http://not-listed.invalid/'])).status).toBe(403);
    // allowed.invalid is listed but does not resolve; localhost is listed but resolves to loopback.
    expect((await nodeProbe<{ status: number }>(scout, HTTP_VIA_PROXY, ['http://allowed.invalid/'])).status).toBe(403);
    expect((await nodeProbe<{ status: number }>(scout, HTTP_VIA_PROXY, ['http://localhost/'])).status).toBe(403);
    // A link-local "metadata service" (in the test's namespace, so nothing leaves the machine).
    const before = remote.seen.length;
    expect((await nodeProbe<{ status: number }>(scout, HTTP_VIA_PROXY, [`http://${remote.extra[0]}/latest/meta-data/`])).status).toBe(403);
    expect(remote.seen.slice(before)).toEqual([]);
    const connect = await nodeProbe<{ line: string }>(
      scout,
      `const p = new URL(process.env.HTTP_PROXY); const s = require('net').connect(Number(p.port), p.hostname, () => s.write('CONNECT not-listed.invalid:22 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
       s.on('data', (d) => { console.log(JSON.stringify({ line: d.toString().split('\\r\\n')[0] })); process.exit(0); });
       s.on('error', (e) => { console.log(JSON.stringify({ line: e.code })); process.exit(0); });`,
    );
    expect(connect.line).toMatch(/^HTTP\/1\.1 403/);
    const log = await flock.logShowing('egress denied: GET localhost:80');
    expect(log).toMatch(/egress denied: GET not-listed\.invalid:80/);
    expect(log).toContain(`egress allowed: GET ${upstreamIp}:${upstreamPort}`);
    expect(log).toContain("egress denied: GET localhost:80");
  });

  it('an agent without egress rules has no proxy: not told of one, and refused if it finds it', async () => {
    const hermit = await runningContainer('hermit');
    const env = await execIn(hermit, ['sh', '-c', 'env | grep -ci proxy; true']);
    expect(env.stdout.trim()).toBe('0');
    const scoutEnv = await execIn(await runningContainer('scout'), ['sh', '-c', 'echo $HTTP_PROXY']);
    const proxy = scoutEnv.stdout.trim();
    expect(proxy).toMatch(/^http:\/\/\d+\.\d+\.\d+\.\d+:3128$/);
    const r = await nodeProbe<{ status: number }>(hermit, HTTP_VIA_PROXY, [`http://${upstreamIp}:${upstreamPort}/`, proxy]);
    expect(r.status).toBe(403);
  });

  it('a non-admin deployer cannot open a private, loopback or link-local range at all', async () => {
    const made = await flock.cliJson<CreatedToken>(['token', 'create', '--name', 'deployer', '--scope', 'agents:write', 'agents:read']);
    for (const rule of ['127.0.0.1/32', '10.0.0.0/8', '169.254.0.0/16', '0.0.0.0/0']) {
      const r = await flock.api('/v1/agents', { method: 'POST', token: made.token, body: { manifest: `name: sneaky\nnetwork: { egress: ["${rule}"] }\n` } });
      expect(r.status, rule).toBe(422);
      expect(r.body).toMatchObject({ error: { code: 'manifest_refused', details: { field: 'network.egress', value: rule } } });
      expect(JSON.stringify(r.body)).toMatch(/only an admin may deploy it/);
    }
    expect((await flock.api('/v1/agents/sneaky')).status).toBe(404);
  });

  it('the proxy never connects to the host itself, however written, even when the rules allow it', async () => {
    const breaker = await runningContainer('breaker');
    const gw = new URL((await execIn(breaker, ['sh', '-c', 'echo $AIFLOCK_NATS_URL'])).stdout.trim().replace('nats:', 'http:'));
    const api = Number(new URL(flock.apiUrl).port);
    const monitor = Number(flock.env['AIFLOCK_NATS_MONITOR_PORT']);
    const own = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address));
    const targets = [...new Set([
      `127.0.0.1:${api}`,
      `127.0.0.1:${monitor}`,
      `localhost:${api}`,
      `0x7f000001:${api}`,
      `2130706433:${monitor}`,
      `127.1:${api}`,
      `0.0.0.0:${hostServicePort}`,
      `[::1]:${api}`,
      `[::ffff:127.0.0.1]:${api}`,
      `${gw.hostname}:${gw.port}`,
      `${gw.hostname}:${hostServicePort}`,
      ...own.map((a) => `${a}:${hostServicePort}`),
    ])];
    const out = await nodeProbe<Record<string, string>>(
      breaker,
      `const p = new URL(process.env.HTTP_PROXY); const out = {}; let left = process.argv.length - 1;
       for (const t of process.argv.slice(1)) { const s = require('net').connect(Number(p.port), p.hostname, () => s.write('CONNECT ' + t + ' HTTP/1.1\\r\\nHost: ' + t + '\\r\\n\\r\\n'));
         let buf = ''; const done = (r) => { if (out[t]) return; out[t] = r; s.destroy(); if (--left === 0) { console.log(JSON.stringify(out)); process.exit(0); } };
         s.on('data', (d) => { buf += d; if (buf.includes('\\r\\n')) done(buf.split('\\r\\n')[0]); }); s.on('error', (e) => done(e.code)); s.setTimeout(5000, () => done('timeout')); }`,
      targets,
    );
    for (const t of targets) expect(out[t], t).toMatch(/^HTTP\/1\.1 403/);
    expect(hostServiceHits).toBe(0);
    const log = await flock.logShowing(/egress denied: CONNECT 0x7f000001:\d+/);
    expect(log).toMatch(/is this host \(loopback\)/);
  });

  it('cannot reach the daemon API, the NATS monitor or any other host port', async () => {
    const hermit = await runningContainer('hermit');
    const gw = new URL((await execIn(hermit, ['sh', '-c', 'echo $AIFLOCK_NATS_URL'])).stdout.trim().replace('nats:', 'http:')).hostname;
    const api = Number(new URL(flock.apiUrl).port);
    const monitor = Number(flock.env['AIFLOCK_NATS_MONITOR_PORT']);
    const res = await scanFrom(hermit, gw, [api, monitor, 2375, 2376, 22], 1500);
    for (const [port, r] of Object.entries(res)) expect(r, `gateway:${port}`).not.toBe('connected');
    expect((await tcpFrom(hermit, '127.0.0.1', api, 1000)).r).not.toBe('connected');
  });
});

describe('isolation (flock): limits', () => {
  it('a deploy asking for what no node can give, or an image off the allow-list, is refused with the reason, and nothing is deployed', async () => {
    const cases: [string, string, string | number, RegExp][] = [
      ['resources: { cpu: 64 }', 'resources.cpu', 64, /more than this node's \d+ cores/],
      ['resources: { memory: 200Gi, tmp: 64Mi }', 'resources.memory', 200 * 1024 ** 3, /more than this node has/],
      ['resources: { memory: 256Mi, tmp: 16Gi }', 'resources.tmp', 16 * 1024 ** 3, /RAM-backed and together exceed resources.memory/],
      ['resources: { pids: 32768 }', 'resources.pids', 32768, /above this flock's cap of 4096/],
      ['resources: { workspace: 100Gi }', 'resources.workspace', 100 * 1024 ** 3, /above this flock's cap of 65536 MiB \(runtime.maxWorkspace\)/],
      ['image: "debian:bookworm-slim"', 'image', 'debian:bookworm-slim', /not one this flock runs \(runtime.allowedImages: /],
      // Docker gives GPUs, but only those the node reports (none on a machine without nvidia-smi).
      ['resources: { gpus: 16 }', 'resources.gpus', 16, /resources.gpus 16 is more than the \d+ GPU\(s\) this node reports \(nvidia-smi\)/],
    ];
    for (const [yaml, field, value, why] of cases) {
      const r = await flock.api('/v1/agents', { method: 'POST', body: { manifest: `name: greedy\nhandlers: [echo]\n${yaml}\n` } });
      expect(r.status, yaml).toBe(422);
      expect(r.body, yaml).toMatchObject({ error: { code: 'manifest_refused', details: { field, value } } });
      expect(JSON.stringify(r.body), yaml).toMatch(why);
    }
    expect((await flock.api('/v1/agents/greedy')).status).toBe(404);
    // The control plane's node says its docker runtime can hand GPUs on (it has none to hand here).
    const nodes = (await flock.api('/v1/nodes')).body as { nodes: { local: boolean; capacity: { gpuSandboxes: boolean } | null }[] };
    expect(nodes.nodes.find((n) => n.local)?.capacity?.gpuSandboxes).toBe(true);
  });

  it('a handler that ignores its deadline is stopped: the task times out and its process is gone', async () => {
    const t = await task('scout', 'trap "" TERM INT; sleep 600');
    expect(t.status).toBe('timed_out');
    const scout = await runningContainer('scout');
    await eventually(async () => {
      const top = await scout.top({ ps_args: '-eo pid,args' });
      return !(top.Processes ?? []).some((p: string[]) => p.join(' ').includes('sleep 600'));
    }, 'the ignored-deadline process to be killed', 30_000);
  });

  it('a memory balloon is OOM-killed; the daemon records oom_killed on the instance and counts it', async () => {
    const t = await task('scout', 'node -e "const a=[]; for(;;) a.push(Buffer.alloc(8<<20,1))"');
    expect(t.status).not.toBe('completed');
    const view = await eventually(async () => {
      const a = await flock.cliJson<AgentView>(['agent', 'get', 'scout']);
      return a.instances.some((i) => i.oomKilled) ? a : null;
    }, 'oom_killed on a scout instance');
    expect(view.instances.find((i) => i.oomKilled)!.id).toMatch(/^scout-/);
    const metrics = String((await flock.api('/metrics')).body);
    expect(metrics).toMatch(/aiflock_instance_oom_kills_total\{agent="scout"\} [1-9]/);
    const logs = await flock.cli(['agent', 'logs', 'scout', '--tail', '50']);
    expect(logs.stdout).toContain('oom_killed');
    // Contained: the agent still works.
    expect((await task('scout', 'echo still-here')).status).toBe('completed');
  });
});

describe('isolation (flock): kill switch', () => {
  it('a quarantined agent makes no progress and has no network; release resumes it', async () => {
    const hermit = await runningContainer('hermit');
    const counter = '/shared/agents/hermit/count';
    await execIn(hermit, ['sh', '-c', `(i=0; while true; do i=$((i+1)); echo $i > ${counter}; sleep 0.1; done) >/dev/null 2>&1 &`]);
    const hostCounter = join(flock.home, 'shared', 'agents', 'hermit', 'count');
    const read = async () => Number((await readFile(hostCounter, 'utf8').catch(() => '0')).trim() || 0);
    await eventually(async () => (await read()) > 3, 'the counter to run');

    const q = await flock.cliJson<AgentView>(['agent', 'quarantine', 'hermit']);
    expect(q.status).toBe('quarantined');
    const info = await hermit.inspect();
    expect(info.State.Paused).toBe(true);
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([]);
    const frozenAt = await read();
    await new Promise((r) => setTimeout(r, 1500)); // a window in which a live counter would advance ~15 times
    expect(await read()).toBe(frozenAt);
    await expect(execIn(hermit, ['true'])).rejects.toThrow(/paused/i);
    // Files and logs are kept; the reconciler leaves it alone; scaling it is refused.
    expect((await containersOf('hermit')).map((c) => c.Id)).toContain(info.Id);
    expect((await flock.cli(['agent', 'scale', 'hermit', '2'])).code).toBe(6);
    expect((await flock.cli(['agent', 'logs', 'hermit', '--tail', '20'])).stdout).toContain('quarantined by an admin');

    const rel = await flock.cliJson<AgentView>(['agent', 'release', 'hermit']);
    expect(rel.status).not.toBe('quarantined');
    await eventually(async () => (await read()) > frozenAt, 'the counter to resume');
    const after = await hermit.inspect();
    expect(after.State.Paused).toBe(false);
    expect(Object.keys(after.NetworkSettings.Networks)).toHaveLength(1);
    expect((await task('hermit', 'echo back')).status).toBe('completed');
  });

  it('kill stops every instance at once and leaves the agent stopped', async () => {
    const k = await flock.cliJson<AgentView>(['agent', 'kill', 'hermit']);
    expect(k.status).toBe('stopped');
    await eventually(async () => (await containersOf('hermit')).every((c) => c.State !== 'running'), 'hermit containers to be gone');
  });
});
