import { randomBytes } from 'node:crypto';
import { FlockError } from '../errors.js';
import { hashSecret, newOpaqueSecret } from '../auth/tokens.js';
import { nodeStatus, type NodeStatus } from '../nodes/node-status.js';
import type { Clock } from '../ports/clock.js';
import type { NodeCapacityRecord, NodeRecord } from '../ports/node-store.js';
import type { InstanceRecord, Store } from '../ports/store.js';

/** Join tokens are recognisable in logs and by secret scanners, like bearer tokens. */
export const JOIN_TOKEN_PREFIX = 'afj_';

/** A node's bus identity: issued at join, revoked at removal. */
export interface NodeCredentialIssuer {
  issue(node: string): Promise<{ id: string; creds: string }>;
  revoke(id: string, node: string): Promise<void>;
}

export interface NodeView {
  record: NodeRecord;
  status: NodeStatus;
  local: boolean;
  instances: InstanceRecord[];
  allocated: { cpu: number; memoryBytes: number; gpus: number };
}

export interface NodeServiceDeps {
  store: Store;
  clock: Clock;
  /** The control plane's own host: always a node, never joined or removed. */
  local: { name: string; labels: Record<string, string>; capacity: () => Promise<NodeCapacityRecord> };
  /** Null when the bus runs without authentication: a node then connects with no credentials. */
  credentials: NodeCredentialIssuer | null;
  /** A node silent for longer than this is lost. */
  lostAfterMs: number;
  log: (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void;
}

/**
 * The flock's nodes: join tokens (hashed at rest, expiring, optionally single-use), joining,
 * heartbeats with capacity, labels, cordon and drain. The control plane's own host is a node
 * like the others, heartbeating by itself.
 */
export class NodeService {
  /** The local node's capacity is measured again at most this often (it spawns tools). */
  static readonly LOCAL_REFRESH_MS = 60_000;
  private localRefreshedAt = -Infinity;
  /** Heartbeats are heard from this moment on (see nodeStatus). */
  private readonly hearingSince: Date;

  /**
   * When each node's newest heartbeat arrived (noteArrival), on this control plane's clock.
   * Liveness reads it as well as the stored time, so a heartbeat counts from the moment it
   * arrives, not from when the store (busy with a burst of task writes) got round to it.
   */
  private readonly arrived = new Map<string, string>();

  constructor(private readonly deps: NodeServiceDeps) {
    this.hearingSince = deps.clock.now();
  }

  /** A heartbeat of `node` has just arrived (its subject proves who sent it); storing it follows. */
  noteArrival(node: string): void {
    this.arrived.set(node, this.deps.clock.now().toISOString());
  }

  /** The local node's row: created on first start; config labels are laid over what people set. */
  async ensureLocal(): Promise<void> {
    const { store, local, clock } = this.deps;
    const now = clock.now().toISOString();
    const prev = await store.nodes.get(local.name);
    const record: NodeRecord = {
      name: local.name,
      labels: { ...(prev?.labels ?? {}), ...local.labels },
      cordoned: prev?.cordoned ?? false,
      draining: prev?.draining ?? false,
      capacity: await local.capacity(),
      joinedAt: prev?.joinedAt ?? now,
      lastHeartbeatAt: now,
      version: null,
      credentialId: null,
    };
    if (prev) await store.nodes.update(record);
    else await store.nodes.add(record);
    this.localRefreshedAt = clock.now().getTime();
  }

  async createToken(input: { ttlSeconds: number; singleUse: boolean; by: string | null }): Promise<{ id: string; token: string; expiresAt: string; singleUse: boolean }> {
    const token = newOpaqueSecret(JOIN_TOKEN_PREFIX);
    const now = this.deps.clock.now();
    const id = `njt_${randomBytes(8).toString('hex')}`;
    const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000).toISOString();
    await this.deps.store.nodes.addToken({ id, hash: hashSecret(token), singleUse: input.singleUse, expiresAt, usedAt: null, usedBy: null, createdBy: input.by, createdAt: now.toISOString() });
    return { id, token, expiresAt, singleUse: input.singleUse };
  }

  /**
   * A host joins: the token must exist, be unexpired and (single-use) unused; the name must be
   * free. The node gets bus credentials scoped to its own subjects. A refused join changes nothing.
   */
  async join(input: { token: string; name: string; labels: Record<string, string> }): Promise<{ tokenId: string; creds: string | null }> {
    const { store, clock, local } = this.deps;
    const now = clock.now().toISOString();
    const token = await store.nodes.tokenByHash(hashSecret(input.token));
    if (!token) throw new FlockError('join_token_invalid', 'the join token is not one this flock issued (create one with: aiflock node token create)');
    if (token.expiresAt <= now) throw new FlockError('join_token_invalid', `the join token ${token.id} expired at ${token.expiresAt}`, { tokenId: token.id });
    if (token.singleUse && token.usedAt) throw new FlockError('join_token_invalid', `the join token ${token.id} is single-use and node "${token.usedBy}" used it at ${token.usedAt}`, { tokenId: token.id });
    if (input.name === local.name) throw new FlockError('node_is_local', `"${input.name}" is the control plane's own node; join this host under another name (--name)`, { node: input.name });
    if (await store.nodes.get(input.name)) throw new FlockError('node_name_taken', `a node named "${input.name}" has joined already; remove it first (aiflock node remove ${input.name}) or join under another name`, { node: input.name });
    if (token.singleUse && !(await store.nodes.consumeToken(token.id, input.name, now))) {
      throw new FlockError('join_token_invalid', `the join token ${token.id} is single-use and another node used it first`, { tokenId: token.id });
    }
    const record: NodeRecord = { name: input.name, labels: input.labels, cordoned: false, draining: false, capacity: null, joinedAt: now, lastHeartbeatAt: null, version: null, credentialId: null };
    if (!(await store.nodes.add(record))) throw new FlockError('node_name_taken', `a node named "${input.name}" joined at the same moment`, { node: input.name });
    const issued = this.deps.credentials ? await this.deps.credentials.issue(input.name) : null;
    if (issued) await store.nodes.update({ ...record, credentialId: issued.id });
    if (!token.singleUse) await store.nodes.consumeToken(token.id, input.name, now);
    this.deps.log('info', `node ${input.name} joined with token ${token.id}`, { node: input.name, tokenId: token.id });
    return { tokenId: token.id, creds: issued?.creds ?? null };
  }

  /** A heartbeat from `node` (the subject's name, proven by its credentials); an unknown node's is ignored. */
  async heartbeat(node: string, beat: { ts: string; capacity: NodeCapacityRecord; version: string }): Promise<boolean> {
    const prev = await this.deps.store.nodes.get(node);
    if (!prev || node === this.deps.local.name) return false;
    // The control plane's clock decides liveness: a node's own clock may be off.
    await this.deps.store.nodes.update({ ...prev, capacity: beat.capacity, version: beat.version, lastHeartbeatAt: this.arrived.get(node) ?? this.deps.clock.now().toISOString() });
    return true;
  }

  async list(): Promise<NodeView[]> {
    if (this.deps.clock.now().getTime() - this.localRefreshedAt > NodeService.LOCAL_REFRESH_MS) await this.ensureLocal();
    const [nodes, instances, deployments] = await Promise.all([this.deps.store.nodes.list(), this.deps.store.instances.list(), this.deps.store.deployments.list()]);
    const asks = new Map(deployments.map((d) => [d.name, { cpu: d.manifest.resources.cpu, memoryBytes: d.manifest.resources.memory, gpus: d.manifest.resources.gpus ?? 0 }]));
    const now = this.deps.clock.now();
    return nodes.map((record) => {
      const mine = instances.filter((i) => i.node === record.name && i.status !== 'exited');
      const allocated = mine.reduce(
        (a, i) => ({ cpu: a.cpu + (asks.get(i.agent)?.cpu ?? 0), memoryBytes: a.memoryBytes + (asks.get(i.agent)?.memoryBytes ?? 0), gpus: a.gpus + (asks.get(i.agent)?.gpus ?? 0) }),
        { cpu: 0, memoryBytes: 0, gpus: 0 },
      );
      const local = record.name === this.deps.local.name;
      return { record, status: local ? 'ready' : nodeStatus(newest(record.lastHeartbeatAt, this.arrived.get(record.name)), now, this.deps.lostAfterMs, this.hearingSince), local, instances: mine, allocated };
    });
  }

  async get(name: string): Promise<NodeView> {
    const view = (await this.list()).find((n) => n.record.name === name);
    if (!view) throw new FlockError('node_not_found', `no node named "${name}" (list them with: aiflock node list)`, { node: name });
    return view;
  }

  /** Set labels (a value) or remove them (null). */
  async label(name: string, changes: Record<string, string | null>): Promise<NodeView> {
    const { record } = await this.get(name);
    const labels = { ...record.labels };
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) delete labels[k];
      else labels[k] = v;
    }
    await this.deps.store.nodes.update({ ...record, labels });
    return this.get(name);
  }

  /** Cordon: no new instance goes there; what runs stays. Uncordon also ends a drain. */
  async cordon(name: string, on: boolean): Promise<NodeView> {
    const { record } = await this.get(name);
    await this.deps.store.nodes.update({ ...record, cordoned: on, draining: on ? record.draining : false });
    return this.get(name);
  }

  /** Drain: cordoned, and its instances are moved off by the scheduler. */
  async drain(name: string): Promise<NodeView> {
    const { record } = await this.get(name);
    await this.deps.store.nodes.update({ ...record, cordoned: true, draining: true });
    return this.get(name);
  }

  /** Forget a node and cut its agent off the bus. The control plane's own node cannot be removed. */
  async remove(name: string): Promise<NodeView> {
    if (name === this.deps.local.name) throw new FlockError('node_is_local', `"${name}" is the control plane's own node; it cannot be removed`, { node: name });
    const view = await this.get(name);
    if (view.record.credentialId && this.deps.credentials) await this.deps.credentials.revoke(view.record.credentialId, name);
    await this.deps.store.nodes.remove(name);
    this.arrived.delete(name);
    this.deps.log('info', `node ${name} removed`, { node: name });
    return view;
  }
}

/** The later of two ISO timestamps (both from this control plane's clock, so they compare as text). */
const newest = (a: string | null, b: string | undefined): string | null => (b !== undefined && (a === null || b > a) ? b : a);
