import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { AgentView, SystemStatus } from '@aiflock/protocol';
import type { ApiClient} from '../client.js';
import { CliError } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress, table } from '../output.js';
import { REPO_ROOT, homeDir } from '../paths.js';
import { toInt } from './shared.js';

export const DAEMON_MAIN = join(REPO_ROOT, 'packages', 'daemon', 'dist', 'main.js');
const EXAMPLES = join(REPO_ROOT, 'examples');

export function lifecycleCommands(program: Command, client: () => ApiClient): void {
  program
    .command('up')
    .description('start the flock: build the agent image if needed, start the daemon (with its NATS), deploy the demo agents')
    .addHelpText('after', '\nAgents with `image: workbench` (Debian with git, build tools, node, Chromium) need that image, which `up` does not build:\n  bash scripts/build-workbench.sh')
    .option('--no-demo', 'do not deploy the demo agents from examples/ and the villagers from examples/village/')
    .option('--timeout <seconds>', 'how long to wait for the daemon and the agents', '180')
    .option('--json', 'print the final status as JSON')
    .action(async (o: { demo: boolean; timeout: string; json?: boolean }) => {
      const deadline = Date.now() + toInt(o.timeout, '--timeout') * 1000;
      const api = client();
      const tokenFile = join(homeDir(process.env), 'admin.token');
      const hadToken = existsSync(tokenFile);
      if (await reachable(api)) progress(`daemon already running at ${api.baseUrl}`);
      else {
        // The process runtime runs the agent bundle on the host's node: no image to build.
        if (process.env['AIFLOCK_RUNTIME'] !== 'process') await ensureImage(process.env['AIFLOCK_IMAGE']);
        const operatorEngine = process.env['AIFLOCK_OPERATOR_ENGINE'];
        if (operatorEngine && process.env['AIFLOCK_RUNTIME'] !== 'process') await startOperatorEngine(operatorEngine);
        await startDaemonProcess(api, deadline);
      }
      if (o.demo) await deployDemo(api, deadline);
      const status = await api.get<SystemStatus>('/v1/status');
      const { agents } = await api.get<{ agents: AgentView[] }>('/v1/agents');
      // The daemon's first start made it: show it this once (the daemon never logs it).
      const newToken = hadToken ? null : (await readFile(tokenFile, 'utf8').catch(() => '')).trim() || null;
      const uiUrl = `${status.apiUrl}/`;
      if (o.json) return printJson({ status, agents, uiUrl, ...(newToken ? { adminToken: newToken } : {}) });
      println();
      println(`aiflock is up. API: ${status.apiUrl}   data: ${status.dataDir}`);
      if (agents.length) {
        println(table(['AGENT', 'STATUS', 'READY', 'HANDLERS'], agents.map((a) => [a.name, a.status, `${a.replicas.ready}/${a.replicas.desired}`, a.handlers.join(',')])));
      }
      println();
      println(`  web UI:      ${uiUrl}   (sign in by pasting a token: the admin token below, or one from ./aiflock token create --scope human)`);
      println(`  list agents: ./aiflock agent list   (API docs: ${status.apiUrl}/v1/openapi.json)`);
      if (newToken) println(`  admin token: ${newToken}  (shown once; also in ${tokenFile}, mode 0600)`);
      println(`  API token:   ${join(status.dataDir, 'admin.token')} (admin; make narrower ones with ./aiflock token create)`);
      println(`  run a task:  ./aiflock task run echo --input '{"hello":"flock"}' --wait`);
      println(`  stop it all: ./aiflock down`);
    });

  program
    .command('down')
    .description('stop the flock: every agent instance, the daemon and its NATS server')
    .option('--keep-agents', 'stop only the daemon; instances and NATS keep running and are adopted on the next start')
    .option('--json', 'print the outcome as JSON')
    .option('--timeout <seconds>', 'how long to wait for a daemon started only to stop what a dead one left running', '120')
    .action(async (o: { keepAgents?: boolean; json?: boolean; timeout: string }) => {
      const api = client();
      if (!(await reachable(api))) {
        const left = o.keepAgents ? null : await leftRunning(homeDir(process.env));
        if (!left) {
          if (o.json) return printJson({ running: false });
          return println('the daemon is not running');
        }
        // Only the daemon knows everything a flock is made of (sandboxes of every runtime,
        // volumes, firewall chains, the network, NATS): it is started to stop them in order.
        if (!o.json) progress(`the daemon is not running, but ${left}: starting it to stop the flock...`);
        await startDaemonProcess(api, Date.now() + toInt(o.timeout, '--timeout') * 1000);
        await stopDaemon(api, true);
        if (o.json) return printJson({ running: false, stoppedFlock: true, restartedToStop: left });
        return println('flock stopped');
      }
      if (!o.json) progress(o.keepAgents ? 'stopping the daemon...' : 'stopping agents, NATS and the daemon...');
      await stopDaemon(api, !o.keepAgents);
      if (o.json) return printJson({ running: false, stoppedFlock: !o.keepAgents });
      println(o.keepAgents ? 'daemon stopped; agents keep running' : 'flock stopped');
    });

  program
    .command('status')
    .description('daemon, NATS, runtime and agent health')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const api = client();
      if (!(await reachable(api))) {
        if (o.json) printJson({ running: false, apiUrl: api.baseUrl });
        else println(`daemon: not running (expected at ${api.baseUrl}); start it with: ./aiflock up`);
        process.exitCode = EXIT.unreachable;
        return;
      }
      const s = await api.get<SystemStatus>('/v1/status');
      if (o.json) return printJson(s);
      println(`daemon:   running, pid ${s.pid}, version ${s.version}, up ${Math.round(s.uptimeMs / 1000)}s, API ${s.apiUrl}`);
      for (const [name, c] of Object.entries(s.checks)) println(`${`${name}:`.padEnd(10)}${c.ok ? 'ok' : 'FAILING'} - ${c.detail}`);
      println(`agents:   ${s.agents.deployed} deployed, ${s.agents.instancesRunning}/${s.agents.instancesDesired} instances running`);
      if (s.nodes) println(`nodes:    ${s.nodes.map((n) => `${n.name} ${n.status}${n.draining ? ' draining' : n.cordoned ? ' cordoned' : ''} (${n.instances} instances)`).join(', ')}`);
      println(`tasks:    ${Object.entries(s.tasks).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
      // No LLM is a supported way to run (agents use their non-LLM policy), not a failure.
      if (s.llm) println(`llm:      ${s.llm.available ? `${s.llm.models.join(', ')} - ` : 'none - '}${s.llm.detail}`);
      for (const pin of s.llm?.pins ?? []) {
        if (pin.state !== 'ok') println(`pin:      ${pin.alias} is ${pin.state === 'missing' ? 'not on the model server' : 'NOT the pinned version'} (pinned ${pin.digest}): aiflock models list`);
      }
      if (s.llm?.available) println(`tools:    ${s.llm.toolModels?.length ? `${s.llm.toolModels.join(', ')} can call tools (agent loop)` : "no model can call tools: agent loops will only answer (configure a tool-capable model, e.g. Ollama's qwen2.5)"}`);
      if (!Object.values(s.checks).every((c) => c.ok)) process.exitCode = EXIT.failure;
    });

  program
    .command('daemon')
    .description('run the control plane in the foreground (what `up` starts in the background)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or fatal (default: $AIFLOCK_LOG_LEVEL, the config file, or info)')
    .action(async (o: { logLevel?: string }) => {
      const env = o.logLevel ? { ...process.env, AIFLOCK_LOG_LEVEL: o.logLevel } : process.env;
      const child = spawn(process.execPath, [DAEMON_MAIN], { stdio: 'inherit', env });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
      const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
      process.exitCode = code;
    });
}

/**
 * What a daemon that did not stop cleanly left running, in words, or null: its NATS server
 * (a daemon killed, or stopped with --keep-agents, leaves it and the instances running), or
 * its info file naming a process that is gone (a crash; its sandboxes may still run).
 */
async function leftRunning(home: string): Promise<string | null> {
  const daemonPid = await infoPid(home);
  // Alive but not answering: starting another would only fight it for the port. (A pid the
  // system gave to another program since is not it: that daemon is gone.)
  if (daemonPid !== null && alive(daemonPid) && (await readFile(`/proc/${daemonPid}/cmdline`, 'utf8').catch(() => '')).includes(DAEMON_MAIN)) throw new CliError(`the daemon (pid ${daemonPid}) is running but does not answer; stop it (kill ${daemonPid}) and run down again`, EXIT.unreachable);
  const natsPid = Number((await readFile(join(home, 'nats', 'nats.pid'), 'utf8').catch(() => '')).trim());
  if (Number.isInteger(natsPid) && natsPid > 0 && alive(natsPid)) return `its NATS server (pid ${natsPid}) still runs`;
  return daemonPid !== null ? `it did not stop cleanly (pid ${daemonPid})` : null;
}

/** The pid in the daemon's info file, or null (no file, or one torn while a daemon starts). */
async function infoPid(home: string): Promise<number | null> {
  const info = await readFile(join(home, 'daemon.json'), 'utf8').catch(() => null);
  if (info === null) return null;
  try {
    const pid = (JSON.parse(info) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Ask the daemon to stop (with `stopFlock`, its instances and NATS too) and wait until it has. */
export async function stopDaemon(api: ApiClient, stopFlock: boolean): Promise<void> {
  const { pid } = await api.get<SystemStatus>('/v1/status');
  await api.post('/v1/system/shutdown', { stopFlock });
  for (let i = 0; i < 600 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new CliError(`the daemon (pid ${pid}) did not stop within 60 s`, EXIT.failure);
}

/**
 * How long a daemon may take to answer its health check. Something else holding the API port
 * may accept connections and never answer: without a limit `up`, `down` and `status` would wait
 * on it for ever.
 */
const HEALTH_ANSWER_MS = 10_000;

export async function reachable(api: ApiClient): Promise<boolean> {
  try {
    await api.request('GET', '/healthz', undefined, {}, AbortSignal.timeout(HEALTH_ANSWER_MS));
    return true;
  } catch {
    return false;
  }
}

/**
 * The image the daemon will run: one named by AIFLOCK_IMAGE that is present is used as it is.
 * Checking the default one means hashing its inputs (a few dozen ldd and hash runs), seconds
 * on an idle machine and close to a minute on a loaded one, for an image the daemon would not
 * run. A named image that is missing changes nothing: the default one is built as before.
 */
async function ensureImage(named: string | undefined): Promise<void> {
  if (named && (await imagePresent(named))) return progress(`using the agent image ${named} (AIFLOCK_IMAGE)`);
  await buildImage();
}

async function imagePresent(ref: string): Promise<boolean> {
  const child = spawn('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], { stdio: 'ignore' });
  return new Promise<boolean>((r) => {
    child.once('error', () => r(false));
    child.once('exit', (c) => r(c === 0));
  });
}

async function buildImage(): Promise<void> {
  progress('checking the agent image (built locally, no registry)...');
  const child = spawn('bash', [join(REPO_ROOT, 'scripts', 'build-image.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  if (code !== 0) throw new CliError(`building the agent image failed (exit ${code}); see the output above`, EXIT.failure);
}

/**
 * The operator engine (a second, user-namespace-remapped dockerd for `profile: operator`),
 * started if it does not answer yet; a no-op when it does. `down` leaves it running: it holds
 * no flock state, and other flocks on the host may use it.
 */
async function startOperatorEngine(socket: string): Promise<void> {
  progress(`checking the operator engine at ${socket}...`);
  const child = spawn('bash', [join(REPO_ROOT, 'scripts', 'operator-engine.sh'), 'start'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, AIFLOCK_OPERATOR_ENGINE: socket },
  });
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  if (code !== 0) throw new CliError(`starting the operator engine failed (exit ${code}); see the output above`, EXIT.failure);
}

async function startDaemonProcess(api: ApiClient, deadline: number): Promise<void> {
  if (!existsSync(DAEMON_MAIN)) throw new CliError(`${DAEMON_MAIN} is missing; run: npm run build`, EXIT.failure);
  const home = homeDir(process.env);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const logFile = join(home, 'daemon.log');
  const out = await open(logFile, 'a');
  const child = spawn(process.execPath, [DAEMON_MAIN], { detached: true, stdio: ['ignore', out.fd, out.fd], env: process.env });
  let exit: number | null = null;
  child.once('exit', (code) => (exit = code ?? 1));
  child.unref();
  await out.close();
  progress(`starting the daemon (pid ${child.pid}, log ${logFile})...`);
  while (Date.now() < deadline) {
    if (exit !== null) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
      throw new CliError(`the daemon exited with code ${exit} while starting:\n${tail}`, EXIT.failure);
    }
    try {
      // Bounded: the loop must get back to noticing a daemon that exited (its port taken, say).
      const r = await api.request<{ ok: boolean }>('GET', '/readyz', undefined, {}, AbortSignal.timeout(HEALTH_ANSWER_MS));
      if (r.data.ok) return progress(`daemon ready at ${api.baseUrl}`);
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new CliError(`the daemon did not become ready in time; see ${logFile}`, EXIT.failure);
}

async function deployDemo(api: ApiClient, deadline: number): Promise<void> {
  // The demo agents, then the demo villagers (their manifests have a `village` section).
  const files: string[] = [];
  for (const dir of ['', 'village']) {
    const names = await readdir(join(EXAMPLES, dir)).catch(() => [] as string[]);
    files.push(...names.filter((f) => /\.agent\.(ya?ml|md)$/.test(f)).sort().map((f) => join(dir, f)));
  }
  for (const f of files) {
    const text = await readFile(join(EXAMPLES, f), 'utf8');
    const out = await api.post<{ agent: AgentView; changed: boolean }>('/v1/agents', { manifest: text, filename: f });
    progress(`${out.changed ? 'deployed' : 'already deployed'}: ${out.agent.name} (${f})`);
  }
  let last = '';
  while (Date.now() < deadline) {
    const { agents } = await api.get<{ agents: AgentView[] }>('/v1/agents');
    const waiting = agents.filter((a) => a.replicas.ready < a.replicas.desired);
    if (waiting.length === 0) return progress('all agents ready');
    const line = `waiting for ${waiting.map((a) => `${a.name} ${a.replicas.ready}/${a.replicas.desired}`).join(', ')}`;
    if (line !== last) progress(line);
    last = line;
    await sleep(500);
  }
  progress('some agents are not ready yet; check: ./aiflock agent list');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
