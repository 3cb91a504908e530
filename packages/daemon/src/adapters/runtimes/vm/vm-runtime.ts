import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { FlockError, type HealthCheck, type SandboxCapabilities, type SandboxCapacity, type SandboxInfo, type SandboxSpec } from '@aiflock/core';
import { INSTANCE_ID_PATTERN } from '@aiflock/protocol';
import { InstanceCgroup } from '../shared/cgroups.js';
import { HostProcess, forwardLines } from '../shared/host-process.js';
import type { HostRuntime, Isolation, ProxyAcceptor, RuntimeLog, SandboxIdentity } from '../shared/host-runtime.js';
import { assertFlockName } from '../shared/names.js';
import { removeSecretFiles, writeSecretFiles } from '../shared/secret-files.js';
import { SANDBOX_CREDENTIALS_DIR, SANDBOX_UID, prepareInstanceStorage, prepareSharedRoot, instanceSizes, releaseInstanceStorage, type StorageLimits } from '../shared/shared-storage.js';
import { probeAccel, type Accel } from './accel.js';
import { ProxyRelay, holdsSocket } from './proxy-relay.js';
import { GUEST_BUS_ADDRESS, GUEST_BUS_PORT, GUEST_PROXY_ADDRESS, GUEST_PROXY_PORT, confinedLaunch, guestEnvFile, qemuArgv, type GuestShare } from './qemu-command.js';
import { refuseGpus } from '../shared/no-gpus.js';

export interface VmRuntimeOptions {
  flock: string;
  node: string;
  /** Per-instance guest config and the bus credentials live here (parents traversable by uid 1001). */
  rootDir: string;
  /** Host directory behind the sandboxes' /shared. */
  sharedDir: string;
  /** Directory with vmlinux and initrd.img (scripts/build-vm-image.sh). */
  imageDir: string;
  qemu: string;
  accel: 'auto' | 'kvm' | 'tcg';
  /** The bus on this host: each guest connection is relayed there (loopback unless given). */
  busPort: number;
  busHost?: string;
  secretsDir?: string;
  /** Workspace size for manifests that name none, log file rotation (runtime.workspaceSize, logFileMaxBytes, logFileKeep). */
  storage?: StorageLimits;
  /** The egress proxy, for guests of agents with egress rules; without it those are refused. */
  proxy?: ProxyAcceptor;
  log?: RuntimeLog;
}

interface Instance {
  proc: HostProcess;
  dir: string;
  /** It has the forward to the egress proxy (its agent has egress rules). */
  proxied: boolean;
}

/** How long a guest under TCG may take to its first heartbeat. */
const TCG_STARTUP_GRACE_MS = 10 * 60_000;
/** What QEMU itself needs beyond the guest's memory (its own heap, device emulation, TCG's code cache). */
const QEMU_OVERHEAD_BYTES = 384 * 1024 * 1024;
const MIB = 1024 * 1024;
/**
 * The guest's root filesystem lives in its RAM (the initramfs holds node, ~150 MiB unpacked):
 * the guest gets this on top of the manifest's memory, so the agent still has what it asked for.
 */
const ROOTFS_MIB = 320;

/**
 * Sandboxes as QEMU guests: each instance is a small Linux VM (Debian's kernel, an initramfs
 * with node and the agent bundle) whose only network path is a forward to the bus. QEMU runs
 * as the sandbox user with no capabilities in the instance's cgroup. Like the process runtime,
 * instances die with the daemon (not adopted on restart) and the reconciler replaces exited ones.
 */
export class VmRuntime implements HostRuntime {
  readonly kind = 'vm';
  get capabilities(): SandboxCapabilities {
    return {
      network: 'none',
      // Through a forward of its own per guest, handed over by instance (proxy-relay.ts).
      egressProxy: this.opts.proxy !== undefined,
      quarantineCutsNetwork: true,
      operatorProfile: false,
      survivesRestart: false,
      weakerThanContainers: false,
      // The guest runs no service that could start a command for the host: exec is refused.
      exec: false,
      // A guest would need the GPU passed through (VFIO), which this runtime does not do.
      gpus: false,
      // lifecycle: job — a guest per task, torn down after it (the documents' ephemeral VM jobs).
      jobSandboxes: true,
      // Under software emulation a guest boots its kernel, unpacks its root and starts node
      // at a fraction of native speed: minutes on a busy host. Replacing it for silence then
      // only starts the same slow boot again.
      ...(this.accel?.accel === 'kvm' ? {} : { startupGraceMs: TCG_STARTUP_GRACE_MS }),
    };
  }
  private readonly instances = new Map<string, Instance>();
  private readonly log: RuntimeLog;
  private accel: Accel | null = null;
  private problem: string | null = null;
  private relay: ProxyRelay | null = null;

  constructor(private readonly opts: VmRuntimeOptions) {
    assertFlockName(opts.flock);
    this.log = opts.log ?? (() => {});
  }

  /** Uncompressed (an ELF with a PVH entry): the guest does not spend its boot unpacking itself. */
  private get kernel(): string {
    return join(this.opts.imageDir, 'vmlinux');
  }
  private get initrd(): string {
    return join(this.opts.imageDir, 'initrd.img');
  }

  async init(): Promise<void> {
    await mkdir(this.opts.rootDir, { recursive: true, mode: 0o711 });
    await chmod(this.opts.rootDir, 0o711);
    await mkdir(join(this.opts.rootDir, 'vms'), { recursive: true, mode: 0o711 });
    await prepareSharedRoot(this.opts.sharedDir);
    const missing = [this.kernel, this.initrd, this.opts.qemu, BUSYBOX].filter((f) => !existsSync(f));
    this.problem = missing.length > 0 ? `missing ${missing.join(', ')} (scripts/build-vm-image.sh builds the image; scripts/bootstrap.sh installs QEMU)` : null;
    if (this.problem) this.log('error', `the vm runtime cannot start guests: ${this.problem}`);
    this.accel = await probeAccel(this.opts.accel);
    this.log('info', `vm runtime: ${this.accel.reason}`);
    if (this.opts.proxy && !this.relay) {
      this.relay = new ProxyRelay({ proxy: this.opts.proxy, holderOf: (inode, uid) => this.holderOf(inode, uid), log: this.log });
      await this.relay.listen();
    }
  }

  /** The running instance whose QEMU (or its per-connection relay) holds this socket. */
  private async holderOf(inode: string, uid: number): Promise<string | undefined> {
    if (uid !== SANDBOX_UID) return undefined;
    for (const [id, i] of this.instances) {
      if (!i.proc.exited && i.proxied && (await holdsSocket(await i.proc.cgroup.pids(), inode))) return id;
    }
    return undefined;
  }

  gatewayIp(): string {
    return '127.0.0.1';
  }

  busUrlForSandboxes(): string {
    return `nats://${GUEST_BUS_ADDRESS}:${GUEST_BUS_PORT}`;
  }

  /** A connection the relay handed over carries its instance's name (see ProxyAcceptor). */
  instanceAt(address: string): SandboxIdentity | undefined {
    const id = address.startsWith(HANDED_OVER) ? address.slice(HANDED_OVER.length) : '';
    const i = this.running(id);
    return i?.proxied ? { instanceId: id, agent: i.proc.spec.agent } : undefined;
  }

  proxyUrlForSandboxes(): string {
    return `http://${GUEST_PROXY_ADDRESS}:${GUEST_PROXY_PORT}`;
  }

  /** QEMU runs as the sandbox user and shares the credentials directory: it must reach it. */
  credentialsRoot(): string {
    return join(this.opts.rootDir, 'credentials');
  }

  isolation(): Isolation {
    const accel = this.accel?.reason ?? 'not initialised';
    if (this.problem) return { enforced: false, detail: `vm runtime: ${this.problem}` };
    return {
      enforced: this.accel !== null,
      detail: `vm runtime (QEMU guests, ${accel}): own kernel per instance, no network but forwards to the bus and, for agents with egress rules, the egress proxy (user networking, restrict=on), root filesystem read-only, QEMU as uid ${SANDBOX_UID} without capabilities under -sandbox on and cgroup limits`,
    };
  }

  /** KVM or TCG, and why (for status). */
  acceleration(): Accel | null {
    return this.accel;
  }

  async start(spec: SandboxSpec): Promise<SandboxInfo> {
    refuseGpus(this.kind, spec);
    if (!this.accel) await this.init();
    if (this.problem) throw new FlockError('runtime_unavailable', `the vm runtime cannot start ${spec.instanceId}: ${this.problem}`);
    if (spec.profile !== 'restricted') {
      throw new FlockError('validation_failed', `sandbox profile "${spec.profile}" is not available on the vm runtime`, { field: 'profile', value: spec.profile });
    }
    if (!INSTANCE_ID_PATTERN.test(spec.instanceId)) throw new FlockError('validation_failed', `instance id "${spec.instanceId}" is not valid`);
    await this.remove(spec.instanceId);
    const paths = await prepareInstanceStorage(this.opts.sharedDir, spec.agent, spec.instanceId, instanceSizes(spec, this.opts.storage));
    const files = spec.secretFiles ?? {};
    const wantsSecrets = Object.keys(files).length > 0;
    if (wantsSecrets && !this.opts.secretsDir) throw new FlockError('runtime_unavailable', `${spec.instanceId} asks for secret files but no secrets directory is configured`);

    // The reconciler names the proxy only for agents with egress rules.
    const proxied = Boolean(spec.env['HTTP_PROXY']);
    if (proxied && !this.relay) throw new FlockError('runtime_unavailable', `${spec.instanceId} has egress rules but this flock runs no egress proxy`);
    const dir = join(this.opts.rootDir, 'vms', spec.instanceId);
    const configDir = join(dir, 'config');
    let cgroup: InstanceCgroup | null = null;
    const shares: GuestShare[] = [
      { tag: 'config', hostPath: configDir, readonly: true },
      { tag: 'workspace', hostPath: paths.hostWorkspace, readonly: false },
    ];
    try {
      await mkdir(configDir, { recursive: true, mode: 0o755 });
      const env = {
        ...spec.env,
        HOME: '/tmp',
        PATH: '/usr/bin:/bin',
        AIFLOCK_NATS_URL: this.busUrlForSandboxes(),
        AIFLOCK_WORKSPACE: paths.workspace,
        ...(spec.busCredentialsDir ? { AIFLOCK_NATS_CREDS: `${SANDBOX_CREDENTIALS_DIR}/nats.creds` } : {}),
      };
      // The config share holds only non-secret settings; secrets and credentials are their own shares.
      await writeFile(join(configDir, 'env'), guestEnvFile(env), { mode: 0o644 });
      if (wantsSecrets) {
        shares.push({ tag: 'secrets', hostPath: await writeSecretFiles(this.opts.secretsDir!, spec.instanceId, files, 0o711), readonly: true });
        await writeFile(join(configDir, 'secrets'), '', { mode: 0o644 });
      }
      if (spec.busCredentialsDir) {
        shares.push({ tag: 'creds', hostPath: spec.busCredentialsDir, readonly: true });
        await writeFile(join(configDir, 'creds'), '', { mode: 0o644 });
      }
      cgroup = await InstanceCgroup.create(this.opts.flock, spec.instanceId, {
        memoryBytes: spec.resources.memoryBytes + ROOTFS_MIB * MIB + QEMU_OVERHEAD_BYTES,
        // QEMU's own threads (vCPUs, I/O, the per-connection relay); the guest's processes are not host pids.
        pids: Math.max(64, Math.min(spec.resources.pids, 512)),
        cpu: spec.resources.cpu,
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, spec.instanceId);
      await cgroup?.remove();
      // Its volumes were mounted above: a start that failed must not leave them behind.
      await releaseInstanceStorage(this.opts.sharedDir, spec.agent, spec.instanceId, [...this.instances.values()].some((o) => o.proc.spec.agent === spec.agent));
      throw new FlockError('runtime_unavailable', `could not prepare ${spec.instanceId}: ${(err as Error).message}`);
    }
    const argv = qemuArgv({
      qemu: this.opts.qemu,
      accel: this.accel!.accel,
      kernel: this.kernel,
      initrd: this.initrd,
      memoryMiB: Math.floor(spec.resources.memoryBytes / MIB) + ROOTFS_MIB,
      cpus: Math.max(1, Math.ceil(spec.resources.cpu)),
      shares,
      busRelay: [BUSYBOX, 'nc', this.opts.busHost ?? '127.0.0.1', String(this.opts.busPort)],
      ...(proxied ? { proxyRelay: [BUSYBOX, 'nc', '127.0.0.1', String(this.relay!.port)] } : {}),
    });
    const child = spawn('sh', confinedLaunch(cgroup.procsFiles(), [this.opts.qemu, ...argv]), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: '/' });
    const proc = new HostProcess(spec, child, cgroup);
    this.instances.set(spec.instanceId, { proc, dir, proxied });
    // The serial console: the guest's /init and the agent's own output.
    forwardLines(child.stdout, this.log, 'info', spec.instanceId, stripTerminal);
    forwardLines(child.stderr, this.log, 'warn', spec.instanceId, stripTerminal);
    return proc.info(this.opts.node);
  }

  private running(instanceId: string): Instance | undefined {
    const i = this.instances.get(instanceId);
    return i && !i.proc.exited ? i : undefined;
  }

  /** SIGTERM ends QEMU (and with it the guest) at once; the grace covers a slow exit. */
  async stop(instanceId: string, graceMs: number): Promise<void> {
    const i = this.running(instanceId);
    if (!i) return;
    if (i.proc.paused) await this.release(instanceId);
    await i.proc.terminate(graceMs);
  }

  async kill(instanceId: string): Promise<void> {
    await this.instances.get(instanceId)?.proc.kill();
  }

  async remove(instanceId: string): Promise<void> {
    const i = this.instances.get(instanceId);
    if (!i) return;
    await this.kill(instanceId);
    await rm(i.dir, { recursive: true, force: true });
    if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, instanceId);
    await i.proc.cgroup.remove();
    this.instances.delete(instanceId);
    await releaseInstanceStorage(this.opts.sharedDir, i.proc.spec.agent, instanceId, [...this.instances.values()].some((o) => o.proc.spec.agent === i.proc.spec.agent));
  }

  async list(): Promise<SandboxInfo[]> {
    return [...this.instances.values()].map((i) => i.proc.info(this.opts.node));
  }

  /** The whole QEMU process frozen: vCPUs and its user-network stack, so nothing moves in or out. */
  async quarantine(instanceId: string): Promise<void> {
    const i = this.running(instanceId);
    if (!i || i.proc.paused) return;
    await i.proc.freeze();
  }

  async release(instanceId: string): Promise<void> {
    const i = this.instances.get(instanceId);
    if (!i || !i.proc.paused) return;
    await i.proc.thaw();
  }

  async capacity(): Promise<SandboxCapacity> {
    return { memoryBytes: Math.max(0, totalmem() - QEMU_OVERHEAD_BYTES), cpus: availableParallelism() };
  }

  async ping(): Promise<HealthCheck> {
    return { ok: this.accel !== null && !this.problem, detail: this.isolation().detail };
  }

  async dispose(): Promise<void> {
    for (const id of [...this.instances.keys()]) await this.remove(id);
    await rm(join(this.opts.rootDir, 'vms'), { recursive: true, force: true });
    if (this.opts.secretsDir) await rm(this.opts.secretsDir, { recursive: true, force: true });
    await InstanceCgroup.removeFlock(this.opts.flock);
    this.relay?.close();
    this.relay = null;
  }

  /**
   * The same QEMU, kernel and initramfs with nothing else: no shares, so the guest's /init finds
   * no environment and powers off at once. The benchmark's baseline for a guest's boot.
   */
  bareBootArgv(): string[] {
    return qemuArgv({
      qemu: this.opts.qemu,
      accel: this.accel?.accel ?? 'tcg',
      kernel: this.kernel,
      initrd: this.initrd,
      memoryMiB: 256 + ROOTFS_MIB,
      cpus: 1,
      shares: [],
      busRelay: [BUSYBOX, 'nc', this.opts.busHost ?? '127.0.0.1', String(this.opts.busPort)],
    });
  }

  /** For tests: an instance's QEMU pid. */
  pidOf(instanceId: string): number | undefined {
    return this.running(instanceId)?.proc.child.pid;
  }
}

/** How the egress proxy names a connection handed over to it (EgressProxy.accept). */
const HANDED_OVER = 'unix:';
/** busybox's nc relays each guest connection to the bus (QEMU spawns it per connection). */
const BUSYBOX = '/bin/busybox';
/** SeaBIOS and the kernel clear the screen on the serial console; logs want plain text. */
const stripTerminal = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1bc/g, '');
