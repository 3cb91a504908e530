import type { AgentView, InstanceView } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { ManifestError, parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/schema.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { DeploymentRecord, InstanceRecord, Store } from '../ports/store.js';
import { agentStatus } from '../deployment/instance-health.js';
import { imageFor } from '../deployment/images.js';

export interface DeploymentServiceDeps {
  store: Store;
  bus: Bus;
  clock: Clock;
  /** Image used when a manifest names none. */
  defaultImage: string;
  /** What `image: workbench` means (config runtime.workbenchImage). */
  workbenchImage?: string;
  /** Ask the reconciler to act now rather than at its next tick. */
  poke: () => void;
  /** How long a delivered task may go without an (in-progress) ack before it goes to another replica. */
  ackWaitMs?: number;
  /**
   * Why this flock cannot run a sandbox profile at all (e.g. `operator` without an operator
   * engine), or null. Such a manifest is refused at deploy time, with the reason.
   */
  profileRefusal?: (profile: 'restricted' | 'operator') => string | null;
  /**
   * After an agent is removed: settle what its deployment owned (balance, files, logs), so
   * that a later agent of the same name, perhaps someone else's, starts clean.
   */
  onRemoved?: (record: DeploymentRecord) => Promise<void>;
  /** Cancels the tasks of an agent being removed that have not ended; how many. */
  cancelTasks?: (agent: string, reason: string) => Promise<number>;
  /**
   * What else this flock refuses in a valid manifest, given who deploys it (limits no node can
   * give, images off the allow-list, egress the deployer may not open), or null.
   */
  admit?: (manifest: Manifest, by?: { id: string; admin: boolean }) => Promise<ManifestRefusal | null>;
}

/** Why a valid manifest is refused here: the field, its value and the reason in words. */
export interface ManifestRefusal {
  field: string;
  value: unknown;
  message: string;
}

/** Deploy, scale, stop and remove agents; the reconciler turns the records into sandboxes. */
export class DeploymentService {
  constructor(private readonly deps: DeploymentServiceDeps) {}

  /**
   * `by` is who deploys. They become the agent's owner on its first deploy; a manifest
   * `owner` naming someone else is refused unless an admin deploys it (an admin may deploy
   * for a person, or hand an agent over). Later deploys by others keep the owner.
   */
  async deploy(text: string, filename = 'agent.yaml', by?: { id: string; admin: boolean }): Promise<{ agent: AgentView; changed: boolean }> {
    let parsed;
    try {
      parsed = parseManifest(text, filename);
    } catch (err) {
      if (err instanceof ManifestError) throw new FlockError('manifest_invalid', err.message, { issues: err.issues });
      throw err;
    }
    const { manifest, digest } = parsed;
    const refusal = this.deps.profileRefusal?.(manifest.profile) ?? null;
    if (refusal) throw new FlockError('validation_failed', `${manifest.name}: ${refusal}`, { field: 'profile', value: manifest.profile });
    const refused = (await this.deps.admit?.(manifest, by)) ?? null;
    if (refused) throw new FlockError('manifest_refused', `${manifest.name}: ${refused.message}`, { field: refused.field, value: refused.value });
    const { store, bus, clock } = this.deps;
    if (by && !by.admin && manifest.owner !== undefined && manifest.owner !== by.id) {
      throw new FlockError('owner_mismatch', `manifest owner "${manifest.owner}" is not the identity deploying it (${by.id}); leave owner out to own the agent yourself, or ask an admin to deploy it for ${manifest.owner}`, {
        field: 'owner',
        value: manifest.owner,
        deployer: by.id,
      });
    }
    const existing = await store.deployments.get(manifest.name);
    if (existing?.state === 'quarantined') throw quarantined(manifest.name);
    if (existing && existing.digest === digest && existing.state === 'active') {
      return { agent: await this.view(existing), changed: false };
    }
    const now = clock.now().toISOString();
    const record: DeploymentRecord = {
      name: manifest.name,
      digest,
      manifest,
      replicas: manifest.replicas,
      state: 'active',
      owner: (by?.admin ? manifest.owner : undefined) ?? existing?.owner ?? manifest.owner ?? by?.id ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await bus.ensureQueue(manifest.name, { ackWaitMs: this.deps.ackWaitMs ?? 30_000, maxDeliver: manifest.maxAttempts });
    await store.deployments.upsert(record);
    this.deps.poke();
    return { agent: await this.view(record), changed: true };
  }

  async list(): Promise<AgentView[]> {
    const records = await this.deps.store.deployments.list();
    return Promise.all(records.map((r) => this.view(r)));
  }

  async get(name: string): Promise<AgentView> {
    return this.view(await this.require(name));
  }

  async scale(name: string, replicas: number): Promise<AgentView> {
    const record = await this.require(name);
    if (record.state === 'quarantined') throw quarantined(name);
    const next = { ...record, replicas, state: 'active' as const, updatedAt: this.deps.clock.now().toISOString() };
    await this.deps.store.deployments.upsert(next);
    this.deps.poke();
    return this.view(next);
  }

  /** Stop every instance but keep the agent, its queue and its queued tasks. */
  async stop(name: string): Promise<AgentView> {
    const record = await this.require(name);
    const next = { ...record, state: 'stopped' as const, updatedAt: this.deps.clock.now().toISOString() };
    await this.deps.store.deployments.upsert(next);
    this.deps.poke();
    return this.view(next);
  }

  async remove(name: string): Promise<void> {
    const record = await this.require(name);
    // First, while its instances still listen: a running handler hears its cancel.
    await this.deps.cancelTasks?.(name, `cancelled: agent "${name}" was removed`);
    await this.deps.store.deployments.remove(name);
    await this.deps.bus.removeQueue(name);
    this.deps.poke();
    await this.deps.onRemoved?.(record);
  }

  imageOf(record: DeploymentRecord): string {
    return imageFor(record.manifest.image, this.deps);
  }

  async require(name: string): Promise<DeploymentRecord> {
    const record = await this.deps.store.deployments.get(name);
    if (!record) throw new FlockError('agent_not_found', `no agent named "${name}" is deployed`, { agent: name });
    return record;
  }

  private async view(record: DeploymentRecord): Promise<AgentView> {
    const instances = (await this.deps.store.instances.list(record.name)).map(instanceView);
    const live = instances.filter((i) => i.status !== 'exited' && i.status !== 'stopped');
    const active = record.state === 'active';
    const m = record.manifest;
    return {
      name: record.name,
      version: m.version,
      description: m.description,
      digest: record.digest,
      image: this.imageOf(record),
      profile: m.profile,
      handlers: m.handlers,
      status: agentStatus(active, record.replicas, live.map((i) => i.status), record.state === 'quarantined'),
      replicas: {
        desired: active ? record.replicas : 0,
        running: live.length,
        ready: live.filter((i) => i.status === 'running').length,
      },
      resources: { cpu: m.resources.cpu, memoryBytes: m.resources.memory, pids: m.resources.pids, taskTimeoutMs: m.resources.taskTimeout },
      heartbeatMs: m.heartbeat.interval,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      instances,
      owner: record.owner ?? null,
    };
  }
}

export function instanceView(r: InstanceRecord): InstanceView {
  return {
    id: r.id,
    agent: r.agent,
    status: r.status,
    containerId: r.handle,
    node: r.node,
    startedAt: r.startedAt,
    lastHeartbeatAt: r.lastHeartbeatAt,
    exitCode: r.exitCode,
    oomKilled: r.oomKilled,
  };
}

const quarantined = (name: string) =>
  new FlockError('agent_quarantined', `agent "${name}" is quarantined; inspect it, then: aiflock agent release ${name} (or kill / remove it)`, { agent: name });
