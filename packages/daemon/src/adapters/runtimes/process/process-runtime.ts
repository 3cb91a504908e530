import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { copyFile, chmod, chown, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { FlockError, type ExecRequest, type ExecSession, type HealthCheck, type SandboxCapabilities, type SandboxCapacity, type SandboxInfo, type SandboxSpec, type SandboxStats } from '@aiflock/core';
import { AGENT_NODE_FLAGS, INSTANCE_ID_PATTERN, withDocumentEnvNames } from '@aiflock/protocol';
import type { HostRuntime, Isolation } from '../shared/host-runtime.js';
import { relayToBus } from '../shared/bus-relay.js';
import { assertFlockName } from '../shared/names.js';
import { removeSecretFiles, writeSecretFiles, SANDBOX_SECRETS_DIR } from '../shared/secret-files.js';
import { SANDBOX_CREDENTIALS_DIR, SANDBOX_GID, SANDBOX_SHARED_DIR, SANDBOX_UID, instanceSizes, logFileEnv, prepareInstanceStorage, releaseInstanceStorage, storagePaths, type StorageLimits } from '../shared/shared-storage.js';
import { InstanceCgroup } from '../shared/cgroups.js';
import { HostProcess, forwardLines } from '../shared/host-process.js';
import { SECCOMP_PROFILE_FILE } from '../shared/seccomp.js';
import { launcherArgv, sandboxCommand, type SandboxCommandInput } from './sandbox-command.js';
import { cgroupStats, execBeside } from './sandbox-exec.js';
import { compileSeccomp, type SeccompProfile } from './seccomp-bpf.js';
import { refuseGpus } from '../shared/no-gpus.js';

export interface ProcessRuntimeOptions {
  flock: string;
  node: string;
  /**
   * Root of everything sandboxes bind (shared storage, bus sockets, the agent bundle). Its
   * parents must be traversable by the sandbox user: bubblewrap runs as that user.
   */
  rootDir: string;
  /** The agent runtime bundle (agent.mjs). */
  bundle: string;
  /** The bus servers the relay connects to, the first that answers; sandboxes see the bus on loopback at `busPort`. */
  busServers: { host: string; port: number }[];
  busPort: number;
  /** Host tmpfs for secret files. */
  secretsDir?: string;
  /** Workspace size for manifests that name none, log file rotation (runtime.workspaceSize, logFileMaxBytes, logFileKeep). */
  storage?: StorageLimits;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: unknown) => void;
}

interface Instance {
  proc: HostProcess;
  relay: Server | null;
  socketDir: string;
  /** How its sandbox was made (argv aside): exec makes another the same way. */
  confinement: SandboxCommandInput;
}

const BUS_SOCKET_DIR = '/run/aiflock-bus';

/**
 * Sandboxes as bubblewrap processes, for hosts without Docker. Weaker than containers, and
 * it says so: the host's /usr is shared read-only instead of an image,
 * instances die with the daemon (not adopted on restart), no restart policy of its own (the
 * reconciler replaces exited instances), no egress proxy (no network at all: the bus arrives
 * as a Unix socket relayed by the daemon).
 */
export class ProcessRuntime implements HostRuntime {
  readonly kind = 'process';
  readonly capabilities: SandboxCapabilities = {
    network: 'none',
    egressProxy: false,
    quarantineCutsNetwork: true,
    operatorProfile: false,
    survivesRestart: false,
    weakerThanContainers: true,
    // In a sandbox made as the instance's, in its cgroup (see sandbox-exec.ts).
    exec: true,
    // bubblewrap binds no device nodes: a GPU would need /dev/nvidia* and the driver's libraries.
    gpus: false,
  };
  private readonly instances = new Map<string, Instance>();
  private readonly log: NonNullable<ProcessRuntimeOptions['log']>;
  private ready = false;

  constructor(private readonly opts: ProcessRuntimeOptions) {
    assertFlockName(opts.flock);
    this.log = opts.log ?? (() => {});
  }

  private get sharedDir(): string {
    return join(this.opts.rootDir, 'shared');
  }
  private get bundlePath(): string {
    return join(this.opts.rootDir, 'agent.mjs');
  }
  /** The flock's seccomp profile compiled for bubblewrap (seccomp-bpf.ts). */
  private get seccompPath(): string {
    return join(this.opts.rootDir, 'seccomp.bpf');
  }

  async init(): Promise<void> {
    await mkdir(this.opts.rootDir, { recursive: true, mode: 0o711 });
    await chmod(this.opts.rootDir, 0o711);
    // A root-owned, world-readable copy the sandbox user can bind (the source tree may not be reachable).
    await copyFile(this.opts.bundle, this.bundlePath);
    await chmod(this.bundlePath, 0o644);
    await mkdir(join(this.opts.rootDir, 'bus'), { recursive: true, mode: 0o711 });
    // The same profile containers get; compiled for x86_64 only, so elsewhere nothing starts
    // rather than something starting without it.
    if (process.arch !== 'x64') throw new FlockError('runtime_unavailable', `the process runtime applies its seccomp filter on x86_64 only; this host is ${process.arch}`);
    const profile = JSON.parse(await readFile(SECCOMP_PROFILE_FILE, 'utf8')) as SeccompProfile;
    await writeFile(this.seccompPath, compileSeccomp(profile), { mode: 0o600 });
    this.ready = true;
  }

  gatewayIp(): string {
    return this.opts.busServers[0]!.host;
  }

  /** No network, so no proxy client is ever one of these sandboxes. */
  instanceAt(): undefined {
    return undefined;
  }

  /** Never asked: the process runtime runs no egress proxy (capabilities.egressProxy is false). */
  proxyUrlForSandboxes(proxyPort: number): string {
    return `http://${this.gatewayIp()}:${proxyPort}`;
  }

  /**
   * Sandboxes are launched as the sandbox user, who must be able to reach the credentials
   * directory to bind it; under this runtime's own root (0711) it can, under the data dir
   * (0700) it cannot.
   */
  credentialsRoot(): string {
    return join(this.opts.rootDir, 'credentials');
  }

  busUrlForSandboxes(): string {
    return `nats://127.0.0.1:${this.opts.busPort}`;
  }

  isolation(): Isolation {
    return {
      enforced: this.ready,
      detail:
        'process runtime (bubblewrap): WEAKER than containers — all namespaces (no network, bus over a Unix socket), uid 1001 with no capabilities, read-only root showing only /usr, cgroup limits, the seccomp profile containers get; but no image (host /usr shared read-only), instances do not survive a daemon restart',
    };
  }

  async start(spec: SandboxSpec): Promise<SandboxInfo> {
    refuseGpus(this.kind, spec);
    if (!this.ready) await this.init();
    if (spec.profile !== 'restricted') {
      throw new FlockError('validation_failed', `sandbox profile "${spec.profile}" is not available on the process runtime`, { field: 'profile', value: spec.profile });
    }
    if (!INSTANCE_ID_PATTERN.test(spec.instanceId)) throw new FlockError('validation_failed', `instance id "${spec.instanceId}" is not valid`);
    await this.remove(spec.instanceId);
    const paths = storagePaths(this.sharedDir, spec.agent, spec.instanceId);
    const sizes = instanceSizes(spec, this.opts.storage);
    await prepareInstanceStorage(this.sharedDir, spec.agent, spec.instanceId, sizes);

    const files = spec.secretFiles ?? {};
    if (Object.keys(files).length > 0 && !this.opts.secretsDir) {
      throw new FlockError('runtime_unavailable', `${spec.instanceId} asks for secret files but no secrets directory is configured`);
    }
    const socketDir = join(this.opts.rootDir, 'bus', spec.instanceId);
    let relay: Server | null = null;
    let cgroup: InstanceCgroup | null = null;
    let secretsHostDir: string | null = null;
    try {
      relay = await this.openRelay(socketDir);
      if (Object.keys(files).length > 0) secretsHostDir = await writeSecretFiles(this.opts.secretsDir!, spec.instanceId, files, 0o711);
      cgroup = await InstanceCgroup.create(this.opts.flock, spec.instanceId, spec.resources);
    } catch (err) {
      // Nothing half-made stays behind: no open socket, no secret file, no empty cgroup.
      relay?.close();
      await rm(socketDir, { recursive: true, force: true });
      if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, spec.instanceId);
      await cgroup?.remove();
      throw new FlockError('runtime_unavailable', `could not prepare ${spec.instanceId}: ${(err as Error).message}`);
    }
    const env = withDocumentEnvNames({
      ...spec.env,
      HOME: '/tmp',
      PATH: '/usr/local/bin:/usr/bin:/bin',
      AIFLOCK_SHARED_DIR: SANDBOX_SHARED_DIR,
      AIFLOCK_WORKSPACE: paths.workspace,
      AIFLOCK_LOG_FILE: paths.logFile,
      ...logFileEnv(sizes),
      AIFLOCK_BUS_SOCKET: `${BUS_SOCKET_DIR}/bus.sock`,
      ...(spec.busCredentialsDir ? { AIFLOCK_NATS_CREDS: `${SANDBOX_CREDENTIALS_DIR}/nats.creds` } : {}),
    });
    const confinement: SandboxCommandInput = {
      hostname: spec.instanceId,
      roBinds: [
        [this.bundlePath, '/opt/aiflock/agent.mjs'],
        [paths.hostCommon, paths.common],
        ...(secretsHostDir ? ([[secretsHostDir, SANDBOX_SECRETS_DIR]] as [string, string][]) : []),
        // The directory, so renewed credentials renamed into place are seen.
        ...(spec.busCredentialsDir ? ([[spec.busCredentialsDir, SANDBOX_CREDENTIALS_DIR]] as [string, string][]) : []),
      ],
      binds: [
        [paths.hostWorkspace, paths.workspace],
        [paths.hostLogDir, paths.logDir],
        [socketDir, BUS_SOCKET_DIR],
      ],
      tmpBytes: spec.resources.tmpBytes,
      env,
      argv: [process.execPath, ...AGENT_NODE_FLAGS, '/opt/aiflock/agent.mjs'],
    };
    const command = sandboxCommand(confinement);
    // bubblewrap reads the filter from an inherited descriptor (opened here, as root).
    const filter = openSync(this.seccompPath, 'r');
    let child: ChildProcess;
    try {
      child = spawn('sh', launcherArgv(cgroup.procsFiles(), command), { stdio: ['ignore', 'pipe', 'pipe', filter], detached: true });
    } finally {
      closeSync(filter);
    }
    const proc = new HostProcess(spec, child, cgroup);
    this.instances.set(spec.instanceId, { proc, relay, socketDir, confinement });
    forwardLines(child.stdout, this.log, 'info', spec.instanceId);
    forwardLines(child.stderr, this.log, 'warn', spec.instanceId);
    return proc.info(this.opts.node);
  }

  /** Daemon side of the bus: a Unix socket only this instance sees, relayed to the bus port. */
  private async openRelay(socketDir: string): Promise<Server> {
    // The directory is bind-mounted into the sandbox: keep it (a new one at the same path
    // would be invisible inside) and only replace the socket, e.g. on release from quarantine.
    await mkdir(socketDir, { recursive: true, mode: 0o755 });
    await rm(join(socketDir, 'bus.sock'), { force: true });
    const server = createServer((s) => relayToBus(s, this.opts.busServers));
    const sock = join(socketDir, 'bus.sock');
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(sock, resolve));
    await chown(sock, SANDBOX_UID, SANDBOX_GID);
    await chmod(sock, 0o600);
    return server;
  }

  async stop(instanceId: string, graceMs: number): Promise<void> {
    const i = this.instances.get(instanceId);
    if (!i || i.proc.exited) return;
    if (i.proc.paused) await this.release(instanceId);
    // To the sandboxed processes, not to bubblewrap: its death SIGKILLs the agent, and the
    // sandbox runs in its own session, so the launcher's process group would not reach it.
    await i.proc.terminate(graceMs, async (pid) => {
      const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
      return exe.endsWith('/bwrap') || exe === '';
    });
  }

  async remove(instanceId: string): Promise<void> {
    const i = this.instances.get(instanceId);
    if (!i) return;
    await this.kill(instanceId);
    i.relay?.close();
    await rm(i.socketDir, { recursive: true, force: true });
    if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, instanceId);
    await i.proc.cgroup.remove();
    this.instances.delete(instanceId);
    await releaseInstanceStorage(this.sharedDir, i.proc.spec.agent, instanceId, [...this.instances.values()].some((o) => o.proc.spec.agent === i.proc.spec.agent));
  }

  async list(): Promise<SandboxInfo[]> {
    return [...this.instances.values()].map((i) => i.proc.info(this.opts.node));
  }

  /** Freeze every process (cgroup freezer) and close its only way out, the bus relay. */
  async quarantine(instanceId: string): Promise<void> {
    const i = this.instances.get(instanceId);
    if (!i || i.proc.paused) return;
    i.relay?.close();
    i.relay = null;
    await i.proc.freeze();
  }

  async release(instanceId: string): Promise<void> {
    const i = this.instances.get(instanceId);
    if (!i || !i.proc.paused) return;
    i.relay = await this.openRelay(i.socketDir);
    await i.proc.thaw();
  }

  async kill(instanceId: string): Promise<void> {
    await this.instances.get(instanceId)?.proc.kill();
  }

  async exec(instanceId: string, request: ExecRequest): Promise<ExecSession> {
    const i = this.instances.get(instanceId);
    if (!i || i.proc.exited) throw new FlockError('instance_not_running', `instance ${instanceId} is not running; exec needs a running sandbox`, { instance: instanceId });
    // A command in its frozen cgroup would never run.
    if (i.proc.paused) throw new FlockError('agent_quarantined', `instance ${instanceId} is quarantined (frozen); release its agent to exec into it`, { instance: instanceId });
    return execBeside({ ...i.confinement, hostname: instanceId }, i.proc.cgroup, this.seccompPath, request);
  }

  async stats(instanceId: string): Promise<SandboxStats | null> {
    const i = this.instances.get(instanceId);
    if (!i || i.proc.exited) return null;
    return cgroupStats(i.proc.cgroup);
  }

  async capacity(): Promise<SandboxCapacity> {
    return { memoryBytes: totalmem(), cpus: availableParallelism() };
  }

  async ping(): Promise<HealthCheck> {
    return { ok: this.ready, detail: this.isolation().detail };
  }

  /** Nothing of an instance outlives the daemon here: take every one down, then the roots. */
  async dispose(): Promise<void> {
    for (const id of [...this.instances.keys()]) await this.remove(id);
    await rm(join(this.opts.rootDir, 'bus'), { recursive: true, force: true });
    if (this.opts.secretsDir) await rm(this.opts.secretsDir, { recursive: true, force: true });
    await InstanceCgroup.removeFlock(this.opts.flock);
    this.ready = false;
  }

  /** For tests and the benchmark: where a host path of this runtime's shared tree is. */
  hostSharedDir(): string {
    return this.sharedDir;
  }

  /** Where the launched sandbox's bus socket lives on the host (for inspection). */
  socketDirOf(instanceId: string): string | undefined {
    return this.instances.get(instanceId)?.socketDir;
  }
}

