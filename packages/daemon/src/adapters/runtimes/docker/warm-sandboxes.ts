import type Dockerode from 'dockerode';
import { FlockError, type SandboxInfo, type SandboxResources, type SandboxSpec, type WarmKey, type WarmSandbox } from '@aiflock/core';
import type { FlockNetwork } from './flock-network.js';
import { containerSpec } from './container-spec.js';
import { LABEL, containerName } from './names.js';
import { toInfo } from './container-info.js';
import { warmContainerSpec, warmKeyFromLabel } from './warm-container.js';
import { WARM_KEY_LABEL, WARM_LABEL, createSlot, disposeWarmRoot, mountIntoSlot, newWarmId, prepareWarmRoot, readClaimRecord, releaseSlot, slotPaths, writeClaimRecord, writeIdentity, WARM_ID_PATTERN, type SlotPaths } from './warm-slots.js';
import { writeSecretFiles } from '../shared/secret-files.js';
import { instanceSizes, logFileEnv, prepareInstanceStorage, type StorageLimits } from '../shared/shared-storage.js';

export interface WarmSandboxesOptions {
  docker: Dockerode;
  flock: string;
  node: string;
  sharedDir: string;
  warmDir: string;
  secretsDir?: string;
  storage?: StorageLimits;
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
export class WarmSandboxes {
  private rootReady: Promise<void> | null = null;

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
    let container: Dockerode.Container;
    try {
      container = await this.opts.docker.createContainer(create);
    } catch (err) {
      await releaseSlot(slot);
      if (statusOf(err) === 404) throw new FlockError('validation_failed', `image "${key.image}" is not present on node ${this.opts.node}`, { field: 'image', value: key.image });
      throw new FlockError('runtime_unavailable', `docker could not create warm sandbox ${id}: ${(err as Error).message}`);
    }
    try {
      await container.start();
      const inspected = await container.inspect();
      await this.host.closeDnsFor(id, inspected.State.Pid);
      return { id, key, handle: inspected.Id };
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      await releaseSlot(slot).catch(() => {});
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

  async claim(warm: WarmSandbox, spec: SandboxSpec, beforeIdentity?: (info: SandboxInfo) => Promise<void>): Promise<SandboxInfo> {
    const { flock, node, sharedDir, secretsDir: secretsRoot, docker } = this.opts;
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
    await prepareInstanceStorage(sharedDir, spec.agent, spec.instanceId, sizes);
    if (wantsSecrets) await writeSecretFiles(secretsRoot!, spec.instanceId, files);
    const slot = slotPaths(this.opts.warmDir, warm.id);
    // Recorded first: from the rename on, listings and removal know it by the instance's name.
    await writeClaimRecord(slot, { instanceId: spec.instanceId, agent: spec.agent, manifestDigest: spec.manifestDigest });
    await mountIntoSlot(this.opts.warmDir, slot, (create.HostConfig?.Mounts ?? []).map((m) => ({ source: m.Source!, target: m.Target!, readOnly: m.ReadOnly === true })));
    const container = docker.getContainer(warm.handle);
    await container.rename({ name: containerName(flock, spec.instanceId) });
    const { cpu, memoryBytes, pids } = spec.resources;
    await container.update({ Memory: memoryBytes, MemorySwap: memoryBytes, NanoCpus: Math.round(cpu * 1e9), PidsLimit: pids });
    const inspected = await container.inspect();
    if (!inspected.State.Running) throw new FlockError('runtime_unavailable', `warm sandbox ${warm.id} is not running (${inspected.State.Status})`);
    // Its namespace was closed to Docker's DNS when it started warm; known by its new name from now on.
    await this.host.closeDnsFor(spec.instanceId, inspected.State.Pid);
    const info = { ...toInfo(inspected, flock, network.name), instanceId: spec.instanceId, agent: spec.agent, manifestDigest: spec.manifestDigest };
    await beforeIdentity?.(info);
    // Last: the waiting runtime starts as this instance the moment the file appears.
    await writeIdentity(slot, Object.fromEntries((create.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
    return info;
  }

  /** Destroy an unclaimed one: its container, then its slot. */
  async discard(id: string): Promise<void> {
    if (!WARM_ID_PATTERN.test(id)) return;
    await this.host.removeByName(containerName(this.opts.flock, id));
    await releaseSlot(slotPaths(this.opts.warmDir, id));
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
