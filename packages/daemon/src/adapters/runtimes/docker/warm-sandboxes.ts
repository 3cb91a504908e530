import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { FlockError, type SandboxInfo, type SandboxResources, type SandboxSpec, type WarmKey, type WarmSandbox } from '@aiflock/core';
import type { FlockNetwork } from './flock-network.js';
import { containerSpec } from './container-spec.js';
import { LABEL, containerName } from './names.js';
import { toInfo } from './container-info.js';
import { warmContainerSpec, warmKeyFromLabel } from './warm-container.js';
import { WARM_KEY_LABEL, WARM_LABEL, bindLogDir, createSlot, wakeRuntime, disposeWarmRoot, mountIntoSlot, newWarmId, prepareWarmRoot, readClaimRecord, releaseSlot, slotPaths, writeClaimRecord, writeIdentity, WARM_ID_PATTERN, type SlotPaths } from './warm-slots.js';
import { writeSecretFiles } from '../shared/secret-files.js';
import type { RuntimeLog } from '../shared/host-runtime.js';
import { StepTimer } from '../shared/step-timer.js';
import { instanceSizes, logFileEnv, prepareLogDir, prepareWorkspace, storagePaths, type StorageLimits } from '../shared/shared-storage.js';
import { handOverLogVolume, mountLogVolume, removeLogImage } from '../shared/volumes.js';

export interface WarmSandboxesOptions {
  docker: Dockerode;
  flock: string;
  node: string;
  sharedDir: string;
  warmDir: string;
  secretsDir?: string;
  storage?: StorageLimits;
  log?: RuntimeLog;
}

/** What the Docker runtime lends its warm sandboxes: its network, its DNS closing, its removal. */
export interface WarmHost {
  prepareForWarm(): Promise<FlockNetwork>;
  closeDnsFor(name: string, pid: number): Promise<void>;
  removeByName(name: string): Promise<void>;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

/**
 * The Docker runtime's warm sandboxes (manifest `scaling.warm`): started containers that
 * wait, with no identity and no credentials (warm-container.ts, warm-slots.ts), until an
 * instance claims one. A claim mounts the instance's storage, credentials and secrets into
 * it, renames it to the instance's container, sets its limits and hands it its identity; from
 * then on it is that instance's container and is removed with it, never pooled again.
 */
/** How long a claimed runtime starts under WARM_START_CPUS before its manifest's CPU quota applies. */
export const CLAIM_CPU_GRACE_MS = 1_000;

export class WarmSandboxes {
  private rootReady: Promise<void> | null = null;
  /** What warmUp() saw of each container it started (its pid, its limits): a claim needs no inspect first. */
  private readonly started = new Map<string, Dockerode.ContainerInspectInfo>();

  constructor(
    private readonly opts: WarmSandboxesOptions,
    private readonly host: WarmHost,
  ) {}

  async warmUp(key: WarmKey, resources: SandboxResources): Promise<WarmSandbox> {
    const network = await this.host.prepareForWarm();
    await this.root();
    const id = newWarmId();
    const slot = slotPaths(this.opts.warmDir, id);
    const create = warmContainerSpec(id, key, resources, slot, { flock: this.opts.flock, node: this.opts.node, network: network.name, gatewayIp: network.gatewayIp });
    await createSlot(slot);
    try {
      // Made now, so that no claim waits for mkfs: empty until an instance claims the sandbox.
      const sizes = instanceSizes({ resources: {} }, this.opts.storage);
      await mountLogVolume(this.opts.sharedDir, id, slot.logs, sizes.logFileMaxBytes, sizes.logFileKeep);
    } catch (err) {
      await this.releaseUnclaimed(id);
      throw err;
    }
    let container: Dockerode.Container;
    try {
      container = await this.opts.docker.createContainer(create);
    } catch (err) {
      await this.releaseUnclaimed(id);
      if (statusOf(err) === 404) throw new FlockError('validation_failed', `image "${key.image}" is not present on node ${this.opts.node}`, { field: 'image', value: key.image });
      throw new FlockError('runtime_unavailable', `docker could not create warm sandbox ${id}: ${(err as Error).message}`);
    }
    try {
      await container.start();
      const inspected = await container.inspect();
      await this.host.closeDnsFor(id, inspected.State.Pid);
      this.started.set(id, inspected);
      return { id, key, handle: inspected.Id };
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      await this.releaseUnclaimed(id).catch(() => {});
      throw new FlockError('runtime_unavailable', `docker could not start warm sandbox ${id}: ${(err as Error).message}`);
    }
  }

  /** The warm containers of this flock not claimed yet (still named by their warm id). */
  async list(): Promise<WarmSandbox[]> {
    const found = await this.opts.docker.listContainers({ all: true, filters: { label: [`${LABEL.flock}=${this.opts.flock}`, WARM_LABEL] } });
    const out: WarmSandbox[] = [];
    for (const c of found) {
      const key = warmKeyFromLabel(c.Labels[WARM_KEY_LABEL]);
      if (!this.isUnclaimed(c) || !key) continue;
      // One that stopped (its runtime crashed past its restarts) is no use to anyone.
      if (c.State !== 'running') await this.discard(c.Labels[WARM_LABEL]!);
      else out.push({ id: c.Labels[WARM_LABEL]!, key, handle: c.Id });
    }
    return out;
  }

  /** Still under its warm name: nobody claimed it (list() leaves these out of the instances). */
  isUnclaimed(c: Dockerode.ContainerInfo): boolean {
    const id = c.Labels[WARM_LABEL];
    return id !== undefined && c.Names.includes(`/${containerName(this.opts.flock, id)}`);
  }

  /**
   * Only what names the instance happens here, and as much of it at once as can be: its
   * workspace, credentials and secrets mounted in, its log directory made in the slot's own
   * log volume (made at warm-up), the rename and an inspect in parallel; the limits only
   * when they differ from the warm sandbox's. Then the identity, and the runtime is woken.
   * The host's own view of the log directory is bound after that, off the instance's path.
   */
  async claim(warm: WarmSandbox, spec: SandboxSpec, beforeIdentity?: (info: SandboxInfo) => Promise<void>): Promise<SandboxInfo> {
    const { flock, node, sharedDir, secretsDir: secretsRoot, docker } = this.opts;
    const steps = new StepTimer();
    const network = await this.host.prepareForWarm();
    const files = spec.secretFiles ?? {};
    const wantsSecrets = Object.keys(files).length > 0;
    if (wantsSecrets && !secretsRoot) throw new FlockError('runtime_unavailable', `${spec.instanceId} asks for secret files but this runtime has no secrets directory configured`);
    const secretsDir = wantsSecrets ? `${secretsRoot}/${spec.instanceId}` : null;
    if (spec.resources.tmpBytes !== warm.key.tmpBytes || spec.image !== warm.key.image || spec.profile !== warm.key.profile) {
      throw new FlockError('internal', `warm sandbox ${warm.id} was made for another image, profile or /tmp size than ${spec.instanceId} needs`);
    }
    // Exactly what a cold start would give it (validation included): its environment and its mounts.
    const sizes = instanceSizes(spec, this.opts.storage);
    const create = containerSpec({ ...spec, env: { ...spec.env, ...logFileEnv(sizes) } }, { flock, node, sharedDir, network: network.name, gatewayIp: network.gatewayIp, secretsDir });
    const slot = slotPaths(this.opts.warmDir, warm.id);
    const container = docker.getContainer(warm.handle);
    const known = this.started.get(warm.id) ?? (await container.inspect());
    this.started.delete(warm.id);
    const { cpu, memoryBytes, pids } = spec.resources;
    const limits = { Memory: memoryBytes, MemorySwap: memoryBytes, PidsLimit: pids };
    const nanoCpus = Math.round(cpu * 1e9);
    const h = known.HostConfig;
    const sameLimits = h.Memory === limits.Memory && h.MemorySwap === limits.MemorySwap && h.PidsLimit === limits.PidsLimit;
    // The CPU quota waits until the runtime has started (WARM_START_CPUS); memory and pids do not.
    const laterCpus = h.NanoCpus === nanoCpus ? {} : { nanoCpus, claimedAtMs: Date.now() };
    // Recorded first: from the rename on, listings and removal know it by the instance's name.
    await writeClaimRecord(slot, { instanceId: spec.instanceId, agent: spec.agent, manifestDigest: spec.manifestDigest, ...laterCpus });
    // Taken out of the slot's name at once: the volume is this instance's, whatever happens next.
    await handOverLogVolume(sharedDir, warm.id, spec.instanceId);
    steps.mark('spec');
    const paths = storagePaths(sharedDir, spec.agent, spec.instanceId);
    const mounts = (create.HostConfig?.Mounts ?? []).filter((m) => m.Target !== paths.logDir);
    // Three things at once: the log directory in the slot's volume; the workspace, then every
    // mount into the slot; the Docker calls below.
    const storage = Promise.all([
      prepareLogDir(join(slot.logs, spec.instanceId)),
      (async () => {
        await prepareWorkspace(sharedDir, spec.agent, sizes);
        if (wantsSecrets) await writeSecretFiles(secretsRoot!, spec.instanceId, files);
        steps.mark('workspace');
        await mountIntoSlot(this.opts.warmDir, slot, mounts.map((m) => ({ source: m.Source!, target: m.Target!, readOnly: m.ReadOnly === true })));
        steps.mark('mounts');
      })(),
    ]);
    // Its address is the one it was warmed with: the credentials are bound to it meanwhile
    // (should Docker have given it another, the reconciler binds them again after the claim).
    const asWarmed = { ...toInfo(known, flock, network.name), instanceId: spec.instanceId, agent: spec.agent, manifestDigest: spec.manifestDigest };
    const bound = (async () => {
      await beforeIdentity?.(asWarmed);
      steps.mark('bind credentials');
    })();
    const [, inspected] = await Promise.all([
      storage,
      (async () => {
        await container.rename({ name: containerName(flock, spec.instanceId) });
        // The limits it was warmed with are those of an agent of the same key: usually this one's.
        if (!sameLimits) await container.update(limits);
        return container.inspect();
      })(),
      bound,
    ]);
    steps.mark('docker');
    if (!inspected.State.Running) throw new FlockError('runtime_unavailable', `warm sandbox ${warm.id} is not running (${inspected.State.Status})`);
    // Its namespace was closed to Docker's DNS when it started warm; known by its new name from now on.
    await this.host.closeDnsFor(spec.instanceId, inspected.State.Pid);
    const info = { ...toInfo(inspected, flock, network.name), instanceId: spec.instanceId, agent: spec.agent, manifestDigest: spec.manifestDigest };
    if (info.address !== asWarmed.address) await beforeIdentity?.(info);
    // Last: the waiting runtime starts as this instance the moment the file appears.
    await writeIdentity(slot, Object.fromEntries((create.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
    await wakeRuntime(inspected.State.Pid);
    steps.mark('identity');
    if (laterCpus.nanoCpus !== undefined) this.settleCpusLater(spec.instanceId, container);
    await bindLogDir(slot, spec.instanceId, paths.hostLogDir);
    steps.mark('host log dir');
    this.opts.log?.('debug', `warm sandbox ${warm.id} claimed by ${spec.instanceId} in ${steps.totalMs().toFixed(1)} ms (steps done at, in ms: ${String(steps)})`, { instanceId: spec.instanceId, steps: steps.toJSON() });
    return info;
  }

  /**
   * The manifest's CPU quota, `CLAIM_CPU_GRACE_MS` after the wake. Should this fail or the
   * daemon stop first, `settleCpus` applies it at the next listing (the reconciler lists
   * every few seconds and at start).
   */
  private settleCpusLater(instanceId: string, container: Dockerode.Container): void {
    setTimeout(() => {
      void (async () => {
        const c = await container.inspect();
        await this.settleCpus(c);
      })().catch((err: unknown) => this.opts.log?.('warn', `CPU limit of ${instanceId} not applied yet (the next listing retries): ${String(err)}`, { instanceId }));
    }, CLAIM_CPU_GRACE_MS).unref();
  }

  /** A claimed container still on the warm start's CPU quota past the grace gets its manifest's (docker-runtime.ts lists it). */
  async settleCpus(c: Dockerode.ContainerInspectInfo): Promise<void> {
    const id = c.Config.Labels?.[WARM_LABEL];
    if (!id || !WARM_ID_PATTERN.test(id) || !c.State.Running) return;
    const record = await readClaimRecord(slotPaths(this.opts.warmDir, id));
    if (record?.nanoCpus === undefined || c.HostConfig.NanoCpus === record.nanoCpus) return;
    if (Date.now() - (record.claimedAtMs ?? 0) < CLAIM_CPU_GRACE_MS) return;
    await this.opts.docker.getContainer(c.Id).update({ NanoCpus: record.nanoCpus });
  }

  /** Destroy an unclaimed one: its container, then its slot. */
  async discard(id: string): Promise<void> {
    if (!WARM_ID_PATTERN.test(id)) return;
    await this.host.removeByName(containerName(this.opts.flock, id));
    await this.releaseUnclaimed(id);
  }

  /** An unclaimed slot's mounts (its log volume among them), the slot, then the volume's image. */
  private async releaseUnclaimed(id: string): Promise<void> {
    this.started.delete(id);
    await releaseSlot(slotPaths(this.opts.warmDir, id));
    await removeLogImage(this.opts.sharedDir, id);
  }

  /** The slot of the warm container instance `instanceId` was claimed from, if it was one. */
  async slotOf(instanceId: string): Promise<SlotPaths | null> {
    try {
      const c = await this.opts.docker.getContainer(containerName(this.opts.flock, instanceId)).inspect();
      const id = c.Config.Labels?.[WARM_LABEL];
      return id && WARM_ID_PATTERN.test(id) ? slotPaths(this.opts.warmDir, id) : null;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  releaseSlotOf(slot: SlotPaths): Promise<void> {
    return releaseSlot(slot);
  }

  /** Who claimed a warm container (its labels still say warm), from the claim record. */
  async claimOf(labels: Record<string, string>): Promise<Pick<SandboxInfo, 'instanceId' | 'agent' | 'manifestDigest'> | null> {
    const id = labels[WARM_LABEL];
    if (!id || !WARM_ID_PATTERN.test(id)) return null;
    return readClaimRecord(slotPaths(this.opts.warmDir, id));
  }

  /** Every unclaimed one goes, then the warm root's mounts (the flock is going down). */
  async dispose(): Promise<void> {
    for (const w of await this.list()) await this.discard(w.id);
    await disposeWarmRoot(this.opts.warmDir);
    this.rootReady = null;
  }

  private root(): Promise<void> {
    this.rootReady ??= prepareWarmRoot(this.opts.warmDir).catch((err: unknown) => {
      this.rootReady = null;
      throw err;
    });
    return this.rootReady;
  }
}
