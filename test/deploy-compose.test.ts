import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, eventually } from '../testkit/flock.js';
import { startNatsServer, type TestNatsServer } from '../testkit/nats-server.js';
import { freePort } from '../testkit/ports.js';

/**
 * The deployment files: deploy/docker-compose.yml is valid for docker-compose, and the
 * images it builds (images/deploy/Dockerfile's daemon and web targets) build here from the host-made base with no
 * registry, run as non-root, and work: the daemon image against a real nats-server that
 * uses the compose file's nats.conf and the trust chain the image itself generates (as the
 * compose nats-trust service does), the web image in front of it (UI, API and WebSockets).
 */
const TAG = 'test';
const COMPOSE = join(REPO_ROOT, 'deploy', 'docker-compose.yml');
const flock = `d${Math.random().toString(36).slice(2, 8)}`;
const containers: string[] = [];
let images: { daemon: string; web: string };
let dataDir: string;
let nats: TestNatsServer;
let apiUrl: string;
let webUrl: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const run = (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) =>
  new Promise<Run>((done) =>
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
const docker = async (...args: string[]) => {
  const r = await run('docker', args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
};
const compose = (args: string[], env: Record<string, string | undefined>) => {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  return run('docker-compose', ['-f', COMPOSE, ...args], { env: e, cwd: join(REPO_ROOT, 'deploy') });
};

beforeAll(async () => {
  // One build per run; layers are cached across runs (same tag, same contents).
  const built = await run('bash', [join(REPO_ROOT, 'scripts', 'build-deploy-images.sh'), '--no-workspace-build', '--tag', TAG, '--json'], { timeoutMs: 900_000 });
  expect(built.code, built.stderr.slice(-3000)).toBe(0);
  images = JSON.parse(built.stdout.trim().split('\n').pop()!) as { daemon: string; web: string };
}, 960_000);

afterAll(async () => {
  for (const c of containers) await run('docker', ['rm', '-f', c]);
  // The daemon made its flock's sandbox network through the socket; it is ours to remove.
  const nets = (await run('docker', ['network', 'ls', '-q', '--filter', `label=aiflock.flock=${flock}`])).stdout.split('\n').filter(Boolean);
  for (const n of nets) await run('docker', ['network', 'rm', n]);
  await nats?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('deploy/docker-compose.yml', () => {
  it('is valid for docker-compose, with the services, images and settings it promises', async () => {
    const r = await compose(['config'], { AIFLOCK_DB_PASSWORD: 'not-a-real-password' });
    expect(r.code, r.stderr).toBe(0);
    const cfg = parseYaml(r.stdout) as { services: Record<string, Record<string, unknown>>; volumes: Record<string, unknown> };
    expect(Object.keys(cfg.services).sort()).toEqual(['daemon', 'nats', 'nats-trust', 'postgres', 'web']);
    const { daemon, web, nats: natsSvc, postgres } = cfg.services as Record<string, Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(daemon!['build']).toMatchObject({ dockerfile: 'images/deploy/Dockerfile', target: 'daemon', context: REPO_ROOT });
    expect(web!['build']).toMatchObject({ dockerfile: 'images/deploy/Dockerfile', target: 'web', context: REPO_ROOT });
    expect(daemon!['environment']).toMatchObject({ AIFLOCK_STORE: 'postgres', NATS_URL: 'nats://127.0.0.1:4222', AIFLOCK_API_HOST: '127.0.0.1' });
    expect(daemon!['environment']['AIFLOCK_DATABASE_URL']).toBe('postgres://aiflock:not-a-real-password@127.0.0.1:5432/aiflock');
    expect(daemon!['volumes']).toContain('/var/run/docker.sock:/var/run/docker.sock:rw');
    expect(natsSvc!['depends_on']).toEqual({ 'nats-trust': { condition: 'service_completed_successfully' } });
    expect(natsSvc!['command']).toEqual(['-c', '/etc/nats/nats.conf', '-p', '4222']);
    expect(postgres!['ports']).toEqual(['127.0.0.1:5432:5432/tcp']);
    // The web server: no capabilities, read-only, never root (its image says uid 1000).
    expect(web).toMatchObject({ read_only: true, cap_drop: ['ALL'] });
    expect(web!['user']).toBeUndefined();
    // Settings come through from the environment.
    const custom = await compose(['config'], { AIFLOCK_DB_PASSWORD: 'pw', AIFLOCK_API_PORT: '9090', AIFLOCK_NATS_PORT: '4333' });
    expect(custom.stdout).toContain('NATS_URL: nats://127.0.0.1:4333');
    expect(custom.stdout).toContain('DAEMON_URL: http://127.0.0.1:9090');
  });

  it('refuses to render without a database password, naming the variable', async () => {
    const r = await compose(['config'], { AIFLOCK_DB_PASSWORD: undefined });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('AIFLOCK_DB_PASSWORD');
  });
});

describe('the images', () => {
  it('are built from the host-made base and run as a non-root user, with only what they need', async () => {
    for (const ref of [images.daemon, images.web]) {
      expect(await docker('image', 'inspect', '--format', '{{.Config.User}}', ref)).toBe('1000:1000');
      expect(await docker('image', 'inspect', '--format', '{{index .Config.Labels "aiflock.base-image"}}', ref)).toMatch(/^aiflock\/base:[0-9a-f]{12}$/);
    }
    // Multi-stage: no sources, no build tooling, no test or lint tools in the final images.
    const probe = (ref: string, script: string) => docker('run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', ref, '-c', script);
    expect(await probe(images.daemon, 'id -u; for p in /src /opt/aiflock/node_modules/vitest /opt/aiflock/node_modules/eslint /opt/aiflock/node_modules/vite /opt/aiflock/packages/daemon/src; do test -e $p && echo "has $p"; done; test -f /opt/aiflock/packages/daemon/dist/main.js && echo daemon; aiflock --version')).toBe('1000\ndaemon\n0.1.0');
    expect(await probe(images.web, 'id -u; test -e /opt/aiflock-web/node_modules && echo has-node-modules; test -e /src && echo has-src; ls /opt/aiflock-web/ui')).toBe('1000\nassets\nfavicon.svg\nindex.html');
  });
});

describe('the daemon image with the compose NATS config, and the web image in front', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aiflock-deploy-'));
    await chown(dataDir, 1000, 1000);
    // What the nats-trust service does: the trust chain, from the image, as uid 1000.
    const resolverDir = join(dataDir, 'nats-resolver');
    await mkdir(resolverDir);
    const trust = await docker('run', '--rm', '--network', 'none', '-v', `${dataDir}:${dataDir}`, '-e', `AIFLOCK_HOME=${dataDir}`, '-e', `AIFLOCK_FLOCK=${flock}`, images.daemon, 'nats-server-config', resolverDir);
    expect(trust).toContain('operator:');
    const conf = await readFile(join(REPO_ROOT, 'deploy', 'nats', 'nats.conf'), 'utf8');
    expect(conf).toContain('include ./trust/trust.conf');
    // The compose file's nats.conf with the include resolved; the test server's flags give
    // the ports and the JetStream store (nats-server refuses a store_dir from both).
    nats = await startNatsServer({ config: conf.replace('include ./trust/trust.conf', trust).replace(/^\s*store_dir: .*$/m, '') });

    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    const socketGid = (await stat('/var/run/docker.sock')).gid;
    const daemonName = `aiflock-${flock}-daemon`;
    containers.push(daemonName);
    await docker(
      'run', '-d', '--name', daemonName, '--network', 'host', '--group-add', String(socketGid),
      '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${dataDir}:${dataDir}`,
      '-e', `AIFLOCK_HOME=${dataDir}`, '-e', `AIFLOCK_FLOCK=${flock}`, '-e', 'AIFLOCK_API_HOST=127.0.0.1', '-e', `AIFLOCK_API_PORT=${apiPort}`,
      '-e', `NATS_URL=${nats.url}`, '-e', `AIFLOCK_EGRESS_PORT=${await freePort('0.0.0.0')}`, '-e', 'AIFLOCK_LOG_LEVEL=debug',
      images.daemon,
    );
    await eventually(async () => (await fetch(`${apiUrl}/healthz`).catch(() => null))?.ok, 'the daemon container answering /healthz', 90_000);

    const webPort = await freePort();
    webUrl = `http://127.0.0.1:${webPort}`;
    const webName = `aiflock-${flock}-web`;
    containers.push(webName);
    await docker('run', '-d', '--name', webName, '--network', 'host', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '-e', `DAEMON_URL=${apiUrl}`, '-e', 'HOST=127.0.0.1', '-e', `PORT=${webPort}`, images.web);
    await eventually(async () => (await fetch(`${webUrl}/`).catch(() => null))?.ok, 'the web container answering', 30_000);
  }, 180_000);

  it('runs the daemon as uid 1000 with the socket: healthy, store and bus (JWT via the generated trust) ready', async () => {
    expect((await fetch(`${apiUrl}/healthz`)).status).toBe(200);
    const ready = (await (await fetch(`${apiUrl}/readyz`)).json()) as { checks: Record<string, { ok: boolean; detail: string }> };
    expect(ready.checks['store']).toMatchObject({ ok: true });
    expect(ready.checks['bus']).toMatchObject({ ok: true });
    expect(ready.checks['busAuth']).toMatchObject({ ok: true });
    expect(ready.checks['runtime']).toMatchObject({ ok: true });
    // The host-made base has no iptables and uid 1000 may not change the host firewall: the
    // daemon says so rather than pretending (compose runs it as root with NET_ADMIN).
    expect(ready.checks['isolation']!.ok).toBe(false);
    expect(ready.checks['isolation']!.detail).toMatch(/iptables/);
    expect(await docker('exec', `aiflock-${flock}-daemon`, 'id', '-u')).toBe('1000');
  });

  it('keeps the first admin token out of the container log, in the data dir for the CLI', async () => {
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    expect(token).toMatch(/^afk_/);
    const logs = await run('docker', ['logs', `aiflock-${flock}-daemon`]);
    expect(logs.stdout + logs.stderr).toContain('first start: created the admin token');
    expect(logs.stdout + logs.stderr).not.toContain(token);
    expect(logs.stdout + logs.stderr).not.toMatch(/afk_/);
    // The CLI in the image reads it from there.
    const status = await docker('exec', '-e', `AIFLOCK_API=${apiUrl}`, `aiflock-${flock}-daemon`, 'aiflock', 'status', '--json');
    expect(JSON.parse(status)).toMatchObject({ checks: { store: { ok: true } } });
  });

  it('serves the UI with its security headers, and forwards the API and WebSockets to the daemon', async () => {
    const page = await fetch(`${webUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset, html).toBeDefined();
    const js = await fetch(`${webUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    // A client route reloaded in a browser gets the page; a missing file and a way out of the UI directory do not.
    expect((await fetch(`${webUrl}/village`, { headers: { accept: 'text/html' } })).status).toBe(200);
    expect((await fetch(`${webUrl}/assets/nope.js`)).status).toBe(404);
    const traversal = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--path-as-is', `${webUrl}/../../../etc/passwd`]);
    expect(traversal.stdout).toBe('404');
    const encoded = await fetch(`${webUrl}/%2e%2e/%2e%2e/etc/passwd`);
    expect(encoded.status).toBe(404);

    // The API: the daemon's answers, refusals included.
    expect(await (await fetch(`${webUrl}/healthz`)).json()).toEqual({ ok: true });
    const refused = await fetch(`${webUrl}/v1/agents`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBeTruthy();
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const agents = await fetch(`${webUrl}/v1/agents`, { headers: { authorization: `Bearer ${token}` } });
    expect(agents.status).toBe(200);
    expect(await agents.json()).toEqual({ agents: [] });
    const created = await fetch(`${webUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'via-web', scopes: ['board:read'] }) });
    expect(created.status, await created.clone().text()).toBe(201);

    // A WebSocket through the web server: the board stream opens with a token, and is refused without.
    const open = (headers: Record<string, string>) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`${webUrl.replace('http', 'ws')}/v1/ws/board`, { headers });
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode}`));
        ws.once('error', (err) => resolve(`error ${err.message}`));
      });
    expect(await open({ authorization: `Bearer ${token}` })).toBe('open');
    expect(await open({})).toBe('refused 401');
  });
});
