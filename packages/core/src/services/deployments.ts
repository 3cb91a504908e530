import type { AgentView, InstanceView, SandboxHealth } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { ManifestError, parseManifest, validateManifest, type ParsedManifest } from '../manifest/parse.js';
import type { DialectNote } from '../manifest/cim-dialect.js';
import { manifestCid } from '../manifest/digest.js';
import { applyOverrides, changedFields } from '../manifest/overrides.js';
import type { ManifestArtefacts, RevisionRecord } from '../ports/revision-store.js';
import { autoscaling, type Manifest } from '../manifest/schema.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { DeploymentRecord, InstanceRecord, Store } from '../ports/store.js';
import { agentStatus } from '../deployment/instance-health.js';
import { assertMayManageAgent, type Manager } from '../auth/agent-access.js';
import { imageFor } from '../deployment/images.js';

export interface DeploymentServiceDeps {
  /** Why the agent's next instance waits for a node (the reconciler's placement), or null. */
  pendingReason?: (agent: string) => string | null;
  /** The agent's warm sandboxes, ready and wanted (manifest `scaling.warm`); null when it asks for none. */
  warmStatus?: (agent: string) => { ready: number; wanted: number } | null;
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
  /** The bus's content store for manifests; absent, revisions live in the store alone. */
  artefacts?: ManifestArtefacts;
  /** Each instance's sandbox health check, as the reconciler last saw it (in memory). */
  sandboxHealth?: (instanceId: string) => SandboxHealth | null;
}

/** Who deploys: a token or person id, and whether they hold admin. */
export interface Deployer {
  id: string;
  admin: boolean;
}

export interface DeployOutcome {
  agent: AgentView;
  changed: boolean;
  /** The agent's revision now running (null only for agents deployed before revisions existed). */
  revision: number | null;
  /** What a dialect translation kept without effect. */
  notes: DialectNote[];
}

export interface RevisionCause {
  cause: RevisionRecord['cause'];
  overrides: string[];
  fromRevision?: number;
}

/** Parse, turning a manifest's own error into the API's. */
export function asFlock(parse: () => ParsedManifest): ParsedManifest {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ManifestError) throw new FlockError('manifest_invalid', err.message, { issues: err.issues });
    throw err;
  }
}

/** The parsed manifest with `--set` overrides applied and the whole validated again. */
export function withOverrides(parsed: ParsedManifest, sets: string[]): ParsedManifest {
  if (sets.length === 0) return parsed;
  const notes = parsed.notes;
  return { ...asFlock(() => validateManifest(applyOverrides(parsed.document, sets), '--set')), notes };
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
   * for a person, or hand an agent over). Redeploying an agent is its owner's or an admin's.
   * Without `by` (the daemon's own calls) nothing is checked.
   */
  async deploy(text: string, filename = 'agent.yaml', by?: Deployer, opts: { set?: string[] } = {}): Promise<DeployOutcome> {
    const parsed = withOverrides(asFlock(() => parseManifest(text, filename)), opts.set ?? []);
    return this.apply(parsed, by, { cause: 'deploy', overrides: opts.set ?? [] });
  }

  /**
   * Make `parsed` the agent's desired state, recording a revision when it changes anything.
   * Every way of deploying (a manifest, a stored revision by digest or CID, a rollback) ends
   * here, so every one is checked by the same rules.
   */
  async apply(parsed: ParsedManifest, by: Deployer | undefined, why: RevisionCause): Promise<DeployOutcome> {
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
    if (existing) assertMayManageAgent(by, manifest.name, existing, 'redeploy');
    if (existing?.state === 'quarantined') throw quarantined(manifest.name);
    const notes = parsed.notes;
    if (existing && existing.digest === digest && existing.state === 'active') {
      return { agent: await this.view(existing), changed: false, revision: (await store.revisions.latest(manifest.name))?.revision ?? null, notes };
    }
    const now = clock.now().toISOString();
    const record: DeploymentRecord = {
      name: manifest.name,
      digest,
      manifest,
      replicas: initialReplicas(manifest, existing),
      state: 'active',
      owner: (by?.admin ? manifest.owner : undefined) ?? existing?.owner ?? manifest.owner ?? by?.id ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await bus.ensureQueue(manifest.name, { ackWaitMs: this.deps.ackWaitMs ?? 30_000, maxDeliver: manifest.maxAttempts });
    const revision = await this.record(parsed, existing, by, why, now);
    await store.deployments.upsert(record);
    this.deps.poke();
    return { agent: await this.view(record), changed: true, revision, notes };
  }

  /** A new revision, unless the manifest is the one the latest revision already ran (a restart). */
  private async record(parsed: ParsedManifest, existing: DeploymentRecord | undefined, by: Deployer | undefined, why: RevisionCause, now: string): Promise<number> {
    const { store } = this.deps;
    const name = parsed.manifest.name;
    const latest = await store.revisions.latest(name);
    if (latest && latest.digest === parsed.digest && why.cause !== 'rollback') return latest.revision;
    const revision = (latest?.revision ?? 0) + 1;
    await this.deps.artefacts?.put(parsed.digest, parsed.document);
    await store.revisions.add({
      agent: name,
      revision,
      digest: parsed.digest,
      cid: manifestCid(parsed.digest),
      document: parsed.document,
      overrides: why.overrides,
      cause: why.cause,
      fromRevision: why.fromRevision ?? null,
      changes: existing ? changedFields(existing.manifest, parsed.manifest) : [],
      deployedBy: by?.id ?? null,
      deployedAt: now,
    });
    return revision;
  }

  async list(): Promise<AgentView[]> {
    const records = await this.deps.store.deployments.list();
    return Promise.all(records.map((r) => this.view(r)));
  }

  async get(name: string): Promise<AgentView> {
    return this.view(await this.require(name));
  }

  async scale(name: string, replicas: number, by?: Manager): Promise<AgentView> {
    const record = await this.require(name);
    assertMayManageAgent(by, name, record, 'scale');
    if (record.state === 'quarantined') throw quarantined(name);
    const scaling = autoscaling(record.manifest);
    if (scaling) {
      throw new FlockError('agent_autoscaled', `agent "${name}" scales itself by its queue (scaling ${scaling.min}..${scaling.max}, ${scaling.targetQueueDepth} tasks per replica); change scaling in its manifest, or remove scaling to set replicas by hand`, {
        agent: name,
        scaling,
      });
    }
    const next = { ...record, replicas, state: 'active' as const, updatedAt: this.deps.clock.now().toISOString() };
    await this.deps.store.deployments.upsert(next);
    this.deps.poke();
    return this.view(next);
  }

  /** Stop every instance but keep the agent, its queue and its queued tasks. */
  async stop(name: string, by?: Manager): Promise<AgentView> {
    const record = await this.require(name);
    assertMayManageAgent(by, name, record, 'stop');
    const next = { ...record, state: 'stopped' as const, updatedAt: this.deps.clock.now().toISOString() };
    await this.deps.store.deployments.upsert(next);
    this.deps.poke();
    return this.view(next);
  }

  async remove(name: string, by?: Manager): Promise<void> {
    const record = await this.require(name);
    assertMayManageAgent(by, name, record, 'remove');
    // First, while its instances still listen: a running handler hears its cancel.
    await this.deps.cancelTasks?.(name, `cancelled: agent "${name}" was removed`);
    await this.deps.store.deployments.remove(name);
    // Like `helm uninstall`: a later agent of this name, perhaps someone else's, starts a new
    // history. Its manifests stay findable by digest in the bus's artefact store.
    await this.deps.store.revisions.removeAgent(name);
    await this.deps.bus.removeQueue(name);
    this.deps.poke();
    await this.deps.onRemoved?.(record);
  }

  /** The bus's content store for manifests, when there is one. */
  get artefacts(): ManifestArtefacts | undefined {
    return this.deps.artefacts;
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
    const health = this.deps.sandboxHealth ?? (() => null);
    const instances = (await this.deps.store.instances.list(record.name)).map((r) => instanceView(r, health(r.id)));
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
      // A job agent has sandboxes only while it has tasks: active, it is ready for them.
      status: m.lifecycle === 'job' && active ? 'running' : agentStatus(active, record.replicas, live.map((i) => i.status), record.state === 'quarantined'),
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
      pending: active ? (this.deps.pendingReason?.(record.name) ?? null) : null,
      warm: active ? (this.deps.warmStatus?.(record.name) ?? null) : null,
    };
  }
}

export function instanceView(r: InstanceRecord, health: SandboxHealth | null = null): InstanceView {
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
    // An ended instance has no check running; what it last said would mislead.
    health: r.status === 'exited' || r.status === 'stopped' ? null : health,
  };
}

const quarantined = (name: string) =>
  new FlockError('agent_quarantined', `agent "${name}" is quarantined; inspect it, then: aiflock agent release ${name} (or kill / remove it)`, { agent: name });

/**
 * Replicas a deploy starts with: the manifest's, or for an agent that scales itself the count
 * it already has (a new manifest version does not undo what its queue asked for), kept within
 * its scaling bounds.
 */
function initialReplicas(manifest: Manifest, existing: DeploymentRecord | undefined): number {
  const s = autoscaling(manifest);
  if (!s) return manifest.replicas;
  const from = existing?.state === 'active' && existing && autoscaling(existing.manifest) ? existing.replicas : manifest.replicas;
  return Math.min(s.max, Math.max(s.min, from));
}
