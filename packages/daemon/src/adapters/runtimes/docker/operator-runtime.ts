import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type Dockerode from 'dockerode';
import { FlockError, type HealthCheck, type SandboxEvent, type SandboxInfo, type SandboxCapabilities, type SandboxSpec, type ExecRequest, type ExecSession } from '@aiflock/core';
import { INSTANCE_ID_PATTERN, instanceAgent } from '@aiflock/protocol';
import { relayToBus } from '../shared/bus-relay.js';
import type { Isolation, OperatorSandboxRuntime, ProxyAcceptor, RuntimeLog } from '../shared/host-runtime.js';
import { execInContainer } from './container-exec.js';
import { killContainer, watchSandboxEvents } from './docker-runtime.js';
import { toInfo } from './container-info.js';
import { assertFlockName } from '../shared/names.js';
import { LABEL, containerName } from './names.js';
import { OPERATOR_CAPABILITIES, operatorContainerSpec } from './operator-spec.js';
import { removeSecretFiles, writeSecretFiles } from '../shared/secret-files.js';
import { prepareInstanceStorage, prepareSharedRoot, instanceSizes, logFileEnv, releaseInstanceStorage, type StorageLimits, type StorageOwner } from '../shared/shared-storage.js';

export interface OperatorRuntimeOptions {
  /** The operator engine: a dockerd started with --userns-remap (scripts/operator-engine.sh). */
  docker: Dockerode;
  /** Said in errors and status: where the operator engine listens. */
  socketPath: string;
  /** The main engine, where images are built: an image the operator engine lacks is copied from it. */
  imageSource?: Dockerode;
  flock: string;
  node: string;
  /** Host directory behind the sandboxes' /shared (the same tree as the main runtime's). */
  sharedDir: string;
  /** Host directory for each instance's socket directory (bus.sock, proxy.sock). */
  socketRoot: string;
  /** The bus, as the daemon reaches it; each instance's bus socket is relayed here. */
  busHost: string;
  busPort: number;
  /** The egress proxy; required to start an instance with egress rules. */
  proxy?: ProxyAcceptor | null;
  /** Host tmpfs directory for secret files. */
  secretsDir?: string;
  /** Workspace size for manifests that name none, log file rotation (runtime.workspaceSize, logFileMaxBytes, logFileKeep). */
  storage?: StorageLimits;
  log?: RuntimeLog;
}

interface Relays {
  bus: Server;
  proxy: Server | null;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

/**
 * The `operator` profile: sandboxes that are root inside (writable root filesystem, package
 * installs) on a second Docker engine whose user namespaces are remapped, so that root is an
 * unprivileged subordinate uid on the host. They have no network interface: the daemon
 * relays the bus (and the egress proxy, for agents with egress rules) over Unix sockets that
 * only that sandbox sees. Refuses to run on an engine that does not remap.
 */
export class OperatorRuntime implements OperatorSandboxRuntime {
  readonly kind = 'docker-operator';
  readonly capabilities: SandboxCapabilities = {
    network: 'none',
    egressProxy: true,
    quarantineCutsNetwork: true,
    operatorProfile: true,
    survivesRestart: true,
    weakerThanContainers: false,
    exec: true,
    // The same device request as the main engine's (sandboxLimits in container-spec.ts).
    gpus: true,
  };
  private readonly log: RuntimeLog;
  private remapped: StorageOwner | null = null;
  private readonly relays = new Map<string, Relays>();

  constructor(private readonly opts: OperatorRuntimeOptions) {
    assertFlockName(opts.flock);
    for (const [name, dir] of [['sharedDir', opts.sharedDir], ['socketRoot', opts.socketRoot]] as const) {
      if (!isAbsolute(dir)) throw new FlockError('validation_failed', `${name} must be an absolute path, got "${dir}"`);
    }
    this.log = opts.log ?? (() => {});
  }

  /**
   * Checks that the engine remaps user namespaces and learns the host uid/gid its container
   * root maps to (Docker names the remapped data root `<uid>.<gid>`).
   */
  async init(): Promise<void> {
    let info: { SecurityOptions?: string[]; DockerRootDir?: string };
    try {
      info = (await this.opts.docker.info()) as typeof info;
    } catch (err) {
      throw new FlockError('runtime_unavailable', `the operator engine at ${this.opts.socketPath} does not answer (scripts/operator-engine.sh start): ${(err as Error).message}`);
    }
    const remaps = (info.SecurityOptions ?? []).some((o) => /(^|,)name=userns(,|$)/.test(o));
    const m = /[/\\](\d+)\.(\d+)$/.exec(info.DockerRootDir ?? '');
    if (!remaps || !m || Number(m[1]) === 0) {
      throw new FlockError(
        'runtime_unavailable',
        `the Docker engine at ${this.opts.socketPath} does not remap user namespaces (dockerd --userns-remap): refusing to run root-in-container operator sandboxes on it`,
      );
    }
    this.remapped = { uid: Number(m[1]), gid: Number(m[2]) };
    await prepareSharedRoot(this.opts.sharedDir);
    await mkdir(this.opts.socketRoot, { recursive: true, mode: 0o711 });
    await chmod(this.opts.socketRoot, 0o711);
  }

  /** The host uid/gid of root inside operator sandboxes (null before init). */
  hostRoot(): StorageOwner | null {
    return this.remapped;
  }

  busUrlForSandboxes(): string {
    return 'nats://127.0.0.1:4222';
  }

  isolation(): Isolation {
    const r = this.remapped;
    return r
      ? {
          enforced: true,
          detail: `operator sandboxes: root inside = host uid ${r.uid} (user-namespace remapped engine at ${this.opts.socketPath}), capabilities ${OPERATOR_CAPABILITIES.join(',')}, no network interface (bus and egress proxy over Unix sockets), limits on`,
        }
      : { enforced: false, detail: `the operator engine at ${this.opts.socketPath} is not initialised` };
  }

  /** Whether `instanceId` is an operator sandbox this runtime relays for (the egress proxy asks). */
  has(instanceId: string): boolean {
    return this.relays.has(instanceId);
  }

  async start(spec: SandboxSpec): Promise<SandboxInfo> {
    if (!this.remapped) await this.init();
    const owner = this.remapped!;
    const { flock, node, sharedDir } = this.opts;
    const files = spec.secretFiles ?? {};
    const wantsSecrets = Object.keys(files).length > 0;
    if (wantsSecrets && !this.opts.secretsDir) {
      throw new FlockError('runtime_unavailable', `${spec.instanceId} asks for secret files but this runtime has no secrets directory configured`);
    }
    // The reconciler names the proxy only for agents with egress rules.
    const egress = Boolean(spec.env.HTTP_PROXY);
    if (egress && !this.opts.proxy) throw new FlockError('runtime_unavailable', `${spec.instanceId} has egress rules but this flock runs no egress proxy`);
    const socketDir = join(this.opts.socketRoot, spec.instanceId);
    const secretsDir = wantsSecrets ? `${this.opts.secretsDir}/${spec.instanceId}` : null;
    // Validate before anything touches disk or an engine.
    const sizes = instanceSizes(spec, this.opts.storage);
    const create = operatorContainerSpec({ ...spec, env: { ...spec.env, ...logFileEnv(sizes) } }, { flock, node, sharedDir, socketDir, egress, secretsDir });
    await this.ensureImage(spec.image);
    await this.remove(spec.instanceId);
    await prepareInstanceStorage(sharedDir, spec.agent, spec.instanceId, sizes, owner);
    if (wantsSecrets) await writeSecretFiles(this.opts.secretsDir!, spec.instanceId, files, 0o700, owner);
    await this.openRelays(spec.instanceId, egress);

    let container: Dockerode.Container;
    try {
      container = await this.opts.docker.createContainer(create);
    } catch (err) {
      await this.closeRelays(spec.instanceId, true);
      throw new FlockError('runtime_unavailable', `the operator engine could not create ${spec.instanceId}: ${(err as Error).message}`);
    }
    try {
      await container.start();
      return toInfo(await container.inspect(), flock, '');
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      await this.closeRelays(spec.instanceId, true);
      if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, spec.instanceId);
      throw new FlockError('runtime_unavailable', `the operator engine could not start ${spec.instanceId}: ${(err as Error).message}`);
    }
  }

  /**
   * Images are built on the main engine; copy one over (docker save | docker load) when the
   * operator engine lacks it or holds another image under the same name. A tag is no identity
   * across engines (`:latest` moves with every build); the image id (its config digest, kept
   * by save and load) is.
   */
  private async ensureImage(image: string): Promise<void> {
    const here = await idOf(this.opts.docker, image).catch((err: unknown) => {
      throw new FlockError('runtime_unavailable', `the operator engine cannot inspect ${image}: ${(err as Error).message}`);
    });
    const source = this.opts.imageSource;
    const missing = () => new FlockError('validation_failed', `image "${image}" is not present on node ${this.opts.node} (neither engine has it)`, { field: 'image', value: image });
    if (!source) {
      if (here) return;
      throw missing();
    }
    const wanted = await idOf(source, image);
    if (!wanted) {
      if (here) return;
      throw missing();
    }
    if (here === wanted) return;
    this.log('info', `copying image ${image} to the operator engine`);
    try {
      const tar = await source.getImage(image).get();
      const answer = await this.opts.docker.loadImage(tar, { quiet: true });
      await new Promise<void>((resolve, reject) => {
        answer.on('error', reject);
        answer.on('end', resolve);
        answer.resume();
      });
      // `docker load` reports some failures only in its output: the image being there is the proof.
      if ((await idOf(this.opts.docker, image)) !== wanted) throw new Error(`after the load the engine still has no ${wanted} under that name`);
    } catch (err) {
      throw new FlockError('runtime_unavailable', `could not copy image ${image} to the operator engine: ${(err as Error).message}`);
    }
  }

  /**
   * The daemon's side of an instance's only ways out: a bus socket relayed to the bus, and
   * (with egress rules) a proxy socket handed to the egress proxy, which names the client by
   * the socket. Both are owned by the sandbox's remapped root, mode 0600, in a directory
   * mounted into that sandbox alone.
   */
  private async openRelays(instanceId: string, egress: boolean): Promise<void> {
    const owner = this.remapped!;
    const dir = join(this.opts.socketRoot, instanceId);
    await this.closeRelays(instanceId, false);
    // Kept across quarantine: the bind mount follows the directory, not a new one at its path.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o700);
    const listen = async (name: string, onConnection: (s: Socket) => void): Promise<Server> => {
      const path = join(dir, name);
      await rm(path, { force: true });
      const server = createServer(onConnection);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
      await chown(path, owner.uid, owner.gid);
      await chmod(path, 0o600);
      return server;
    };
    const bus = await listen('bus.sock', (s) => relayToBus(s, [{ host: this.opts.busHost, port: this.opts.busPort }]));
    const proxy = egress && this.opts.proxy ? await listen('proxy.sock', (s) => this.opts.proxy!.accept(s, instanceId)) : null;
    this.relays.set(instanceId, { bus, proxy });
  }

  private async closeRelays(instanceId: string, removeDir: boolean): Promise<void> {
    const r = this.relays.get(instanceId);
    this.relays.delete(instanceId);
    r?.bus.close();
    r?.proxy?.close();
    const dir = join(this.opts.socketRoot, instanceId);
    if (removeDir) await rm(dir, { recursive: true, force: true });
    else {
      await rm(join(dir, 'bus.sock'), { force: true });
      await rm(join(dir, 'proxy.sock'), { force: true });
    }
  }

  exec(instanceId: string, request: ExecRequest): Promise<ExecSession> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return Promise.reject(new FlockError('instance_not_running', `no instance ${instanceId}`));
    return execInContainer(this.container(instanceId), this.opts.docker.modem, instanceId, request);
  }

  private container(instanceId: string): Dockerode.Container {
    return this.opts.docker.getContainer(containerName(this.opts.flock, instanceId));
  }

  async stop(instanceId: string, graceMs: number): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    try {
      await this.container(instanceId).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
    }
  }

  async remove(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    try {
      await this.container(instanceId).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
    await this.closeRelays(instanceId, true);
    if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, instanceId);
    const agent = instanceAgent(instanceId);
    // Itself excluded: a container Docker is still removing may be listed a moment longer.
    const others = (await this.opts.docker.listContainers({ all: true, filters: { label: [`${LABEL.flock}=${this.opts.flock}`, `${LABEL.agent}=${agent}`] } })).filter((c) => c.Labels[LABEL.instance] !== instanceId);
    await releaseInstanceStorage(this.opts.sharedDir, agent, instanceId, others.length > 0);
  }

  /** Close its ways out first (the sockets), then freeze every process. */
  async quarantine(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    await this.closeRelays(instanceId, false);
    try {
      await this.container(instanceId).pause();
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (statusOf(err) !== 409 || !/already paused/i.test(String(err))) throw err;
    }
  }

  async release(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    const c = this.container(instanceId);
    const info = await c.inspect().catch((err: unknown) => {
      if (statusOf(err) === 404) return null;
      throw err;
    });
    if (!info) return;
    await this.openRelays(instanceId, hasEgress(info));
    if (info.State.Paused) await c.unpause();
  }

  async kill(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    const c = this.container(instanceId);
    await killContainer(c);
  }

  watch(listener: (e: SandboxEvent) => void): () => void {
    return watchSandboxEvents(this.opts.docker, this.opts.flock, this.log, listener);
  }

  /**
   * Found by label. Instances that kept running while the daemon was down get their relays
   * back here (paused ones stay cut off until released).
   */
  async list(): Promise<SandboxInfo[]> {
    const found = await this.opts.docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`, `${LABEL.flock}=${this.opts.flock}`] } });
    const out: SandboxInfo[] = [];
    for (const c of found) {
      const info = await this.opts.docker
        .getContainer(c.Id)
        .inspect()
        .catch((err: unknown) => {
          if (statusOf(err) === 404) return null;
          throw err;
        });
      if (!info) continue;
      const s = toInfo(info, this.opts.flock, '');
      if (this.remapped && !this.relays.has(s.instanceId) && (info.State.Running || info.State.Restarting) && !info.State.Paused) {
        await this.openRelays(s.instanceId, hasEgress(info)).catch((err: unknown) => this.log('warn', `could not reopen the sockets of ${s.instanceId}: ${String(err)}`));
      }
      out.push(s);
    }
    return out;
  }

  async ping(): Promise<HealthCheck> {
    try {
      const v = await this.opts.docker.version();
      return { ok: this.remapped !== null, detail: `operator engine Docker ${v.Version} at ${this.opts.socketPath}; ${this.isolation().detail}` };
    } catch (err) {
      return { ok: false, detail: `the operator engine at ${this.opts.socketPath} does not answer: ${(err as Error).message}` };
    }
  }

  /** Remove this flock's operator sandboxes and their sockets. Shared files stay. */
  async dispose(): Promise<void> {
    for (const info of await this.list().catch(() => [])) await this.remove(info.instanceId);
    for (const id of [...this.relays.keys()]) await this.closeRelays(id, true);
  }
}

function hasEgress(info: Dockerode.ContainerInspectInfo): boolean {
  return (info.Config.Env ?? []).some((e) => e.startsWith('AIFLOCK_PROXY_SOCKET='));
}

/** The image's id on an engine, or null when that engine has no image by that name. */
async function idOf(engine: Dockerode, image: string): Promise<string | null> {
  try {
    return (await engine.getImage(image).inspect()).Id;
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}
