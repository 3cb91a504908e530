import { rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { isAbsolute } from 'node:path';
import type Dockerode from 'dockerode';
import { FlockError, type HealthCheck, type SandboxCapabilities, type SandboxCapacity, type SandboxEvent, type SandboxInfo, type SandboxSpec, type SandboxStats, type ExecRequest, type ExecSession, type SandboxResources, type WarmKey, type WarmSandbox } from '@aiflock/core';
import { INSTANCE_ID_PATTERN, instanceAgent } from '@aiflock/protocol';
import { DOCKER_EMBEDDED_DNS, containerSpec } from './container-spec.js';
import { containerStats } from './container-stats.js';
import { execInContainer } from './container-exec.js';
import { relayBusAtGateway } from './gateway-bus-relay.js';
import { ensureFlockNetwork, removeFlockNetwork, type FlockNetwork } from './flock-network.js';
import { HostFirewall, runCommand, type CommandRunner } from './host-firewall.js';
import type { HostRuntime, Isolation, RuntimeLog } from '../shared/host-runtime.js';
import { assertFlockName } from '../shared/names.js';
import { LABEL, bridgeInterfaceName, containerName, networkName } from './names.js';
import { removeSecretFiles, writeSecretFiles } from '../shared/secret-files.js';
import { prepareInstanceStorage, prepareSharedRoot, instanceSizes, logFileEnv, releaseInstanceStorage, type StorageLimits } from '../shared/shared-storage.js';
import { WarmSandboxes } from './warm-sandboxes.js';
import { instanceFromName, sandboxHealth, toInfo } from './container-info.js';

export { toInfo } from './container-info.js';

export interface DockerRuntimeOptions {
  docker: Dockerode;
  flock: string;
  /** Host directory behind the sandboxes' /shared. */
  sharedDir: string;
  /** Port of the bus on the host, listening on the flock's gateway IP. */
  busPort: number;
  /**
   * A joined node's bus servers, this host's first: the node relays the gateway's bus port to
   * them (gateway-bus-relay.ts). Absent on the control plane, whose nats-server is on the gateway.
   */
  busServers?: { host: string; port: number }[];
  /** This node's name, recorded on every container. */
  node: string;
  /** Host tmpfs directory for secret files (e.g. under /dev/shm); required to deliver any. */
  secretsDir?: string;
  /** The egress proxy's port on the gateway: the one other host port sandboxes may reach. */
  proxyPort?: number;
  log?: RuntimeLog;
  /** Workspace size for manifests that name none, log file rotation (runtime.workspaceSize, logFileMaxBytes, logFileKeep). */
  storage?: StorageLimits;
  /** For tests: how iptables is invoked. */
  run?: CommandRunner;
  /** Host directory of warm sandboxes' slots (warm-slots.ts); without it there is no warm pool. */
  warmDir?: string;
}

interface Prepared {
  network: FlockNetwork;
  firewall: HostFirewall;
  isolation: Isolation;
  /** The relay to a joined node's bus servers, when nothing else serves the gateway's bus port. */
  relay: Server | null;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

/** SIGKILL for good: no restart policy brings it back. Gone already is fine. */
export async function killContainer(c: Dockerode.Container): Promise<void> {
  // A frozen container cannot take a signal; thaw it only to kill it.
  const info = await c.inspect().catch(() => null);
  if (!info) return;
  if (info.State.Paused) await c.unpause().catch(() => {});
  // No restart: Docker's on-failure policy would bring a SIGKILLed container back.
  await c.update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } }).catch(() => {});
  try {
    await c.kill({ signal: 'SIGKILL' });
  } catch (err) {
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err; // 409: not running
  }
}

export class DockerRuntime implements HostRuntime {
  readonly kind = 'docker';
  readonly capabilities: SandboxCapabilities;
  /** Everything but the warm pool, which needs a warm directory. */
  private static readonly BASE_CAPABILITIES = { network: 'bridge', egressProxy: true, quarantineCutsNetwork: true, operatorProfile: true, survivesRestart: true, weakerThanContainers: false, exec: true, gpus: true } as const;
  private readonly docker: Dockerode;
  private readonly log: RuntimeLog;
  private prepared: Prepared | null = null;
  private preparing: Promise<Prepared> | null = null;
  /** Flock-network address → instance, refreshed by start() and every list(). */
  private readonly byAddress = new Map<string, { instanceId: string; agent: string }>();
  /** Instance → the pid of the container whose namespace no longer reaches Docker's DNS. */
  private readonly dnsClosed = new Map<string, number>();
  /** Agents that claimed a warm sandbox since this daemon started: their workspace stays mounted at zero instances (remove()). */
  private readonly warmAgents = new Set<string>();
  /** Stops the watch of container starts (Docker restarting a sandbox on its own). */
  private unwatchStarts: (() => void) | null = null;
  /** Started sandboxes no agent owns yet (manifest `scaling.warm`); null without a warm directory. */
  private readonly warm: WarmSandboxes | null;

  constructor(private readonly opts: DockerRuntimeOptions) {
    assertFlockName(opts.flock);
    if (!isAbsolute(opts.sharedDir)) throw new FlockError('validation_failed', `sharedDir must be an absolute path, got "${opts.sharedDir}"`);
    if (!Number.isInteger(opts.busPort) || opts.busPort < 1 || opts.busPort > 65535) {
      throw new FlockError('validation_failed', `busPort must be a TCP port (1-65535), got ${opts.busPort}`);
    }
    this.docker = opts.docker;
    this.log = opts.log ?? (() => {});
    this.capabilities = { ...DockerRuntime.BASE_CAPABILITIES, warmPool: opts.warmDir !== undefined };
    this.warm = opts.warmDir ? new WarmSandboxes({ ...opts, warmDir: opts.warmDir }, this) : null;
  }

  async init(): Promise<void> {
    this.preparing ??= this.prepare().finally(() => (this.preparing = null));
    this.prepared = await this.preparing;
  }

  private async prepare(): Promise<Prepared> {
    const { docker, flock, busPort, sharedDir } = this.opts;
    const network = await ensureFlockNetwork(docker, flock, this.log);
    const firewall = new HostFirewall({
      flock,
      busPort,
      proxyPort: this.opts.proxyPort,
      bridgeInterface: network.bridgeInterface,
      gatewayIp: network.gatewayIp,
      run: this.opts.run,
    });
    const isolation = await firewall.apply();
    if (isolation.enforced) this.log('info', isolation.detail, { network: network.name });
    else this.log('error', `!!! SANDBOX ISOLATION IS NOT ENFORCED !!! ${isolation.detail}`, { network: network.name });
    await prepareSharedRoot(sharedDir);
    const relay = this.opts.busServers ? await relayBusAtGateway(network.gatewayIp, busPort, this.opts.busServers, this.log) : null;
    // A container Docker restarts (restart policy) has a new network namespace; its agent waits
    // (AIFLOCK_NETWORK_GATE) until the embedded DNS is closed there, which happens here at once
    // rather than at the next reconcile pass.
    this.unwatchStarts ??= watchContainerEvents(docker, flock, 'start', this.log, (instanceId) => void this.closeAfterStart(instanceId));
    return { network, firewall, isolation, relay };
  }

  private ready(): Prepared {
    if (!this.prepared) throw new FlockError('not_ready', 'the docker runtime is not initialised yet (call init())');
    return this.prepared;
  }

  gatewayIp(): string {
    return this.ready().network.gatewayIp;
  }

  busUrlForSandboxes(): string {
    return `nats://${this.gatewayIp()}:${this.opts.busPort}`;
  }

  proxyUrlForSandboxes(proxyPort: number): string {
    return `http://${this.gatewayIp()}:${proxyPort}`;
  }

  /** Bus credentials are mounted in by the engine (as root), so they stay under the data dir. */
  credentialsRoot(): undefined {
    return undefined;
  }

  isolation(): Isolation {
    return this.prepared?.isolation ?? { enforced: false, detail: 'the docker runtime is not initialised yet' };
  }

  async start(spec: SandboxSpec): Promise<SandboxInfo> {
    if (!this.prepared) await this.init();
    const { network } = this.ready();
    const { flock, node, sharedDir } = this.opts;
    const files = spec.secretFiles ?? {};
    const wantsSecrets = Object.keys(files).length > 0;
    if (wantsSecrets && !this.opts.secretsDir) {
      throw new FlockError('runtime_unavailable', `${spec.instanceId} asks for secret files but this runtime has no secrets directory configured`);
    }
    const secretsDir = wantsSecrets ? `${this.opts.secretsDir}/${spec.instanceId}` : null;
    // Validate (and refuse the operator profile) before anything touches disk or Docker.
    const sizes = instanceSizes(spec, this.opts.storage);
    const create = containerSpec({ ...spec, env: { ...spec.env, ...logFileEnv(sizes) } }, { flock, node, sharedDir, network: network.name, gatewayIp: network.gatewayIp, secretsDir });
    await prepareInstanceStorage(sharedDir, spec.agent, spec.instanceId, sizes);
    await this.removeByName(containerName(flock, spec.instanceId));
    if (wantsSecrets) await writeSecretFiles(this.opts.secretsDir!, spec.instanceId, files);

    let container: Dockerode.Container;
    try {
      container = await this.docker.createContainer(create);
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new FlockError('validation_failed', `image "${spec.image}" is not present on node ${node}`, { field: 'image', value: spec.image });
      }
      throw new FlockError('runtime_unavailable', `docker could not create ${spec.instanceId}: ${(err as Error).message}`);
    }
    try {
      await container.start();
      const inspected = await container.inspect();
      await this.closeEmbeddedDns(spec.instanceId, inspected.State.Pid);
      const info = toInfo(inspected, flock, network.name);
      if (info.address) this.byAddress.set(info.address, { instanceId: info.instanceId, agent: info.agent });
      return info;
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, spec.instanceId);
      throw new FlockError('runtime_unavailable', `docker could not start ${spec.instanceId}: ${(err as Error).message}`);
    }
  }

  warmUp(key: WarmKey, resources: SandboxResources): Promise<WarmSandbox> {
    return this.warmSandboxes().warmUp(key, resources);
  }

  listWarm(): Promise<WarmSandbox[]> {
    return this.warmSandboxes().list();
  }

  async claimWarm(warm: WarmSandbox, spec: SandboxSpec, beforeIdentity?: (info: SandboxInfo) => Promise<void>): Promise<SandboxInfo> {
    const info = await this.warmSandboxes().claim(warm, spec, beforeIdentity);
    this.warmAgents.add(spec.agent);
    if (info.address) this.byAddress.set(info.address, { instanceId: info.instanceId, agent: info.agent });
    return info;
  }

  discardWarm(id: string): Promise<void> {
    return this.warmSandboxes().discard(id);
  }

  private warmSandboxes(): WarmSandboxes {
    if (!this.warm) throw new FlockError('validation_failed', 'this docker runtime keeps no warm sandboxes (it has no warm directory)', { field: 'scaling.warm' });
    return this.warm;
  }

  /** For warm sandboxes: the prepared network, and the DNS closed in a container just started (see closeEmbeddedDns). */
  async prepareForWarm(): Promise<FlockNetwork> {
    if (!this.prepared) await this.init();
    return this.ready().network;
  }

  closeDnsFor(name: string, pid: number): Promise<void> {
    // Claimed: the same process, closed already when it started warm; only its name changed.
    if ([...this.dnsClosed.values()].includes(pid)) {
      this.dnsClosed.set(name, pid);
      return Promise.resolve();
    }
    return this.closeEmbeddedDns(name, pid);
  }

  async stop(instanceId: string, graceMs: number): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return; // cannot exist
    try {
      await this.docker.getContainer(containerName(this.opts.flock, instanceId)).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err; // 304: already stopped
    }
  }

  async remove(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    // A claimed warm sandbox: its slot's mounts go after the container, before the storage is released.
    const slot = await this.warm?.slotOf(instanceId);
    await this.removeByName(containerName(this.opts.flock, instanceId));
    if (slot) await this.warm!.releaseSlotOf(slot);
    if (this.opts.secretsDir) await removeSecretFiles(this.opts.secretsDir, instanceId);
    for (const [addr, who] of this.byAddress) if (who.instanceId === instanceId) this.byAddress.delete(addr);
    this.dnsClosed.delete(instanceId);
    const agent = instanceAgent(instanceId);
    // Itself excluded: a container Docker is still removing may be listed a moment longer.
    // By name as well as by label: a claimed warm container has no agent label (labels cannot change).
    const others = (await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.flock}=${this.opts.flock}`] } })).filter((c) => {
      const id = c.Labels[LABEL.instance] ?? instanceFromName(c.Names[0], this.opts.flock);
      return id !== null && id !== instanceId && instanceAgent(id) === agent;
    });
    // An agent that claims warm sandboxes keeps its workspace mounted at zero instances: its
    // next claim (a scale-up from zero) then skips the volume's mount. `down` and `agent remove`
    // unmount it; a smaller workspace size applies from the next mount.
    await releaseInstanceStorage(this.opts.sharedDir, agent, instanceId, others.length > 0 || this.warmAgents.has(agent));
  }

  /** Who holds an address on the flock network (for the egress proxy). */
  instanceAt(address: string): { instanceId: string; agent: string } | undefined {
    return this.byAddress.get(address);
  }

  /**
   * Cut the network first (an instance must not act on anything while it is being frozen),
   * then freeze every process with the cgroup freezer. Files, logs and memory stay as they are.
   */
  async quarantine(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    const c = this.docker.getContainer(containerName(this.opts.flock, instanceId));
    const net = this.ready().network;
    for (const [addr, who] of this.byAddress) if (who.instanceId === instanceId) this.byAddress.delete(addr);
    try {
      await this.docker.getNetwork(net.id).disconnect({ Container: c.id, Force: true });
    } catch (err) {
      // 404: not attached (already quarantined) or gone; both are fine here.
      if (statusOf(err) !== 404 && !/is not connected/.test(String(err))) throw err;
    }
    try {
      await c.pause();
    } catch (err) {
      if (statusOf(err) === 404) return;
      if (statusOf(err) !== 409 || !/already paused/i.test(String(err))) throw err;
    }
  }

  async release(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    const c = this.docker.getContainer(containerName(this.opts.flock, instanceId));
    const net = this.ready().network;
    const info = await c.inspect().catch((err: unknown) => {
      if (statusOf(err) === 404) return null;
      throw err;
    });
    if (!info) return;
    if (!info.NetworkSettings.Networks[net.name]) await this.docker.getNetwork(net.id).connect({ Container: c.id });
    if (info.State.Paused) await c.unpause();
    const after = toInfo(await c.inspect(), this.opts.flock, net.name);
    if (after.address) this.byAddress.set(after.address, { instanceId: after.instanceId, agent: after.agent });
  }

  async kill(instanceId: string): Promise<void> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return;
    const c = this.docker.getContainer(containerName(this.opts.flock, instanceId));
    await killContainer(c);
  }

  stats(instanceId: string): Promise<SandboxStats | null> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return Promise.resolve(null);
    return containerStats(this.docker.getContainer(containerName(this.opts.flock, instanceId)));
  }

  exec(instanceId: string, request: ExecRequest): Promise<ExecSession> {
    if (!INSTANCE_ID_PATTERN.test(instanceId)) return Promise.reject(new FlockError('instance_not_running', `no instance ${instanceId}`));
    return execInContainer(this.docker.getContainer(containerName(this.opts.flock, instanceId)), this.docker.modem, instanceId, request);
  }

  /** OOM kills and health check verdicts, straight from Docker's event stream (a restarted container forgets them). */
  watch(listener: (e: SandboxEvent) => void): () => void {
    return watchSandboxEvents(this.docker, this.opts.flock, this.log, listener);
  }

  async removeByName(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true, v: true });
    } catch (err) {
      // 409: a removal is already in progress, which is what we want anyway.
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  /** Found by label, so a restarted daemon sees the instances that kept running without it. */
  async list(): Promise<SandboxInfo[]> {
    const found = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.managed}=true`, `${LABEL.flock}=${this.opts.flock}`] },
    });
    const out: SandboxInfo[] = [];
    // Inspect every one: exit code, OOM and start time are not in the list answer.
    const instances = found.filter((c) => !this.warm?.isUnclaimed(c));
    for (let i = 0; i < instances.length; i += 8) {
      const batch = await Promise.all(
        instances.slice(i, i + 8).map((c) =>
          this.docker
            .getContainer(c.Id)
            .inspect()
            .then(async (c) => {
              const info = await this.claimedInfo(toInfo(c, this.opts.flock, networkName(this.opts.flock)), c);
              // A claimed warm container gets its manifest's CPU quota once its start is over.
              await this.warm?.settleCpus(c).catch((err: unknown) => this.opts.log?.('warn', `CPU limit of ${info.instanceId} not applied: ${String(err)}`, { instanceId: info.instanceId }));
              // A container Docker restarted has a new network namespace: close it again.
              if (c.State.Running && c.State.Pid) await this.closeEmbeddedDns(info.instanceId, c.State.Pid);
              return info;
            })
            .catch((err: unknown) => {
              if (statusOf(err) === 404) return null; // removed meanwhile
              throw err;
            }),
        ),
      );
      for (const info of batch) if (info) out.push(info);
    }
    this.byAddress.clear();
    for (const i of out) if (i.address && i.state !== 'paused') this.byAddress.set(i.address, { instanceId: i.instanceId, agent: i.agent });
    return out;
  }

  /** A claimed warm container has no instance labels (labels cannot change): what its claim record says. */
  private async claimedInfo(info: SandboxInfo, c: Dockerode.ContainerInspectInfo): Promise<SandboxInfo> {
    const claimed = this.warm ? await this.warm.claimOf(c.Config.Labels ?? {}) : null;
    return claimed ? { ...info, ...claimed } : info;
  }

  private async closeAfterStart(instanceId: string): Promise<void> {
    try {
      const c = await this.docker.getContainer(containerName(this.opts.flock, instanceId)).inspect();
      if (c.State.Running && c.State.Pid) await this.closeEmbeddedDns(instanceId, c.State.Pid);
    } catch (err) {
      if (statusOf(err) !== 404) this.log('error', `could not close Docker's embedded DNS after ${instanceId} started: ${(err as Error).message}; its agent waits until a reconcile pass does`, { instanceId });
    }
  }

  /**
   * Docker's embedded DNS (127.0.0.11 in every container of a user network) answers the names
   * and short ids of the other containers on the flock's network. A sandbox resolves nothing
   * (the bus and the egress proxy are addresses in its environment; the proxy resolves for
   * it), so its own network namespace refuses to reach that server, whatever it asks. The
   * rule lives in the sandbox's namespace (set from outside with nsenter; the sandbox has no
   * capability to remove it) and is set again when Docker restarts the container.
   */
  private async closeEmbeddedDns(instanceId: string, pid: number): Promise<void> {
    if (!pid || this.dnsClosed.get(instanceId) === pid) return;
    // Recorded first: a start event and start() itself may both get here for the same process.
    this.dnsClosed.set(instanceId, pid);
    const r = await (this.opts.run ?? runCommand)('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', '-I', 'OUTPUT', '-d', `${DOCKER_EMBEDDED_DNS}/32`, '-j', 'REJECT']);
    if (r.code !== 0) this.dnsClosed.delete(instanceId);
    if (r.code !== 0) throw new FlockError('runtime_unavailable', `could not close Docker's embedded DNS to ${instanceId}: ${r.error ?? r.stderr.trim()}`);
  }

  async capacity(): Promise<SandboxCapacity> {
    const info = (await this.docker.info()) as { MemTotal: number; NCPU: number };
    return { memoryBytes: info.MemTotal, cpus: info.NCPU };
  }

  async ping(): Promise<HealthCheck> {
    try {
      const v = await this.docker.version();
      const iso = this.isolation();
      return { ok: true, detail: `Docker ${v.Version} (API ${v.ApiVersion}); ${iso.enforced ? 'isolation enforced' : `WARNING: ${iso.detail}`}` };
    } catch (err) {
      return { ok: false, detail: `Docker does not answer: ${(err as Error).message}` };
    }
  }

  /**
   * Remove everything this flock owns on the node: containers, then the network, then the
   * firewall (in that order, so no sandbox ever runs without the guard). Shared files stay.
   */
  async dispose(): Promise<void> {
    for (const info of await this.list()) await this.remove(info.instanceId);
    await this.warm?.dispose();
    // A network that will not go must not leave the firewall and the secrets behind: those go
    // first, then the failure is reported.
    const network = await removeFlockNetwork(this.docker, this.opts.flock, this.log).then(
      () => null,
      (err: unknown) => err,
    );
    // Names are derived from the flock, so a runtime that never ran init() can still clean up.
    const firewall =
      this.prepared?.firewall ??
      new HostFirewall({ flock: this.opts.flock, busPort: this.opts.busPort, bridgeInterface: bridgeInterfaceName(this.opts.flock), gatewayIp: '0.0.0.0', run: this.opts.run });
    await firewall.remove();
    // Not waited for: its connections end with the sandboxes removed above.
    this.prepared?.relay?.close();
    if (this.opts.secretsDir) await rm(this.opts.secretsDir, { recursive: true, force: true });
    this.unwatchStarts?.();
    this.unwatchStarts = null;
    this.prepared = null;
    if (network) throw network;
  }
}

/**
 * OOM kills and health check verdicts of this flock's containers on one engine, from its
 * event stream (reconnects). Docker names a verdict `health_status: healthy`.
 */
export function watchSandboxEvents(docker: Dockerode, flock: string, log: RuntimeLog, listener: (e: SandboxEvent) => void): () => void {
  return watchContainerEvents(docker, flock, ['oom', 'health_status'], log, (instanceId, agent, action) => {
    if (action === 'oom') return listener({ kind: 'oom', instanceId, agent });
    const health = sandboxHealth(action.split(':')[1]);
    if (health) listener({ kind: 'health', instanceId, agent, health });
  });
}

/** Kinds of event (`oom`, `start`, ...) of this flock's containers, from the engine's event stream (reconnects). */
export function watchContainerEvents(docker: Dockerode, flock: string, event: string | string[], log: RuntimeLog, listener: (instanceId: string, agent: string, action: string) => void): () => void {
  let stopped = false;
  let stream: NodeJS.ReadableStream | null = null;
  const filters = { type: ['container' as const], event: [event].flat(), label: [`${LABEL.managed}=true`, `${LABEL.flock}=${flock}`] };
  const open = () => {
    if (stopped) return;
    docker.getEvents({ filters }, (err, s) => {
      if (err || !s) {
        log('warn', `docker events: ${String(err)}; retrying`);
        setTimeout(open, 2000).unref();
        return;
      }
      stream = s;
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const ev = JSON.parse(line) as { Action?: string; status?: string; Actor?: { Attributes?: Record<string, string> } };
            const a = ev.Actor?.Attributes ?? {};
            // A claimed warm container has no instance label: its name is the instance's.
            const instance = a[LABEL.instance] ?? instanceFromName(a['name'], flock);
            if (instance) listener(instance, a[LABEL.agent] ?? instanceAgent(instance), ev.Action ?? ev.status ?? '');
          } catch {
            // not a complete JSON event; ignore
          }
        }
      });
      s.on('end', () => !stopped && setTimeout(open, 500).unref());
      s.on('error', () => {});
    });
  };
  open();
  return () => {
    stopped = true;
    (stream as unknown as { destroy?: () => void } | null)?.destroy?.();
  };
}
