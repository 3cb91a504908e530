import type { AgentView } from '@aiflock/protocol';
import type { Clock } from '../ports/clock.js';
import type { CredentialRevoker, SandboxRuntime } from '../ports/sandbox-runtime.js';
import type { Store } from '../ports/store.js';
import type { DeploymentService } from './deployments.js';
import type { Presence } from './ingest.js';

export interface KillSwitchDeps {
  store: Store;
  runtime: SandboxRuntime;
  deployments: DeploymentService;
  /** The one place credentials are cut (no-op until per-instance bus credentials exist). */
  revoker: CredentialRevoker;
  clock: Clock;
  /** Told when an instance thaws, so the time it spent frozen is not counted as silence. */
  presence: Presence;
  poke: () => void;
  /**
   * The control plane's own node. Instances recorded on another node are its node agent's to
   * freeze or stop: their credentials are cut here, and the next desired state (published by
   * the reconciler, poked at once) tells the node to pause them (quarantine) or drops them
   * (kill: the node SIGKILLs what is no longer listed).
   */
  node?: string;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

export type AdminAction = 'quarantine' | 'release' | 'kill';

/**
 * Admin kill switch. Quarantine freezes an agent's instances where they stand (credentials
 * revoked, network cut, processes paused) and keeps files and logs for inspection; release
 * undoes it; kill stops them at once with SIGKILL and leaves the agent stopped.
 */
export class KillSwitch {
  constructor(private readonly deps: KillSwitchDeps) {}

  async quarantine(name: string): Promise<AgentView> {
    const record = await this.deps.deployments.require(name);
    // Recorded first: from here on the reconciler leaves these instances alone.
    await this.setState(record.name, 'quarantined');
    for (const { id, node } of await this.remoteInstancesOf(name)) {
      await this.deps.revoker.revoke(id);
      await this.audit('quarantine', name, id, `quarantined by an admin: credentials revoked; node ${node} pauses it and cuts its network; files and logs kept`);
    }
    for (const id of await this.instancesOf(name)) {
      // Frozen first: a running instance that lost its credentials would exit and be
      // restarted by its restart policy before it could be paused.
      await this.deps.runtime.quarantine(id);
      await this.deps.revoker.revoke(id);
      await this.audit('quarantine', name, id, 'quarantined by an admin: credentials revoked, network cut, processes paused; files and logs kept');
    }
    // The remote ones' nodes learn it from the desired state this pass publishes.
    this.deps.poke();
    return this.deps.deployments.get(name);
  }

  async release(name: string): Promise<AgentView> {
    const record = await this.deps.deployments.require(name);
    if (record.state !== 'quarantined') return this.deps.deployments.get(name);
    for (const { id, node } of await this.remoteInstancesOf(name)) {
      await this.deps.revoker.restore(id);
      this.deps.presence.resumed(id, this.deps.clock.now());
      await this.audit('release', name, id, `released from quarantine by an admin; node ${node} thaws it`);
    }
    for (const id of await this.instancesOf(name)) {
      // Credentials back before it thaws, so its first reconnect already finds them.
      await this.deps.revoker.restore(id);
      await this.deps.runtime.release(id);
      this.deps.presence.resumed(id, this.deps.clock.now());
      await this.audit('release', name, id, 'released from quarantine by an admin');
    }
    await this.setState(name, 'active');
    this.deps.poke();
    return this.deps.deployments.get(name);
  }

  async kill(name: string): Promise<AgentView> {
    await this.deps.deployments.require(name);
    await this.setState(name, 'stopped');
    for (const { id, node } of await this.remoteInstancesOf(name)) {
      await this.deps.revoker.revoke(id);
      await this.audit('kill', name, id, `killed by an admin: credentials revoked; node ${node} SIGKILLs it; the agent is stopped`);
    }
    for (const id of await this.instancesOf(name)) {
      await this.deps.revoker.revoke(id);
      await this.deps.runtime.kill(id);
      await this.audit('kill', name, id, 'killed by an admin (SIGKILL); the agent is stopped');
    }
    this.deps.poke();
    return this.deps.deployments.get(name);
  }

  private async instancesOf(agent: string): Promise<string[]> {
    return (await this.deps.runtime.list()).filter((s) => s.agent === agent && s.state !== 'exited' && s.state !== 'dead').map((s) => s.instanceId);
  }

  private async remoteInstancesOf(agent: string): Promise<{ id: string; node: string }[]> {
    const local = this.deps.node;
    if (local === undefined) return [];
    return (await this.deps.store.instances.list()).filter((r) => r.agent === agent && r.node !== local && r.status !== 'exited').map((r) => ({ id: r.id, node: r.node }));
  }

  private async setState(name: string, state: 'active' | 'stopped' | 'quarantined'): Promise<void> {
    const record = await this.deps.deployments.require(name);
    await this.deps.store.deployments.upsert({ ...record, state, updatedAt: this.deps.clock.now().toISOString() });
  }

  private async audit(action: AdminAction, agent: string, instanceId: string, msg: string): Promise<void> {
    this.deps.log('warn', msg, { action, agent, instanceId });
    await this.deps.store.logs.append([{ ts: this.deps.clock.now().toISOString(), level: 'warn', msg, agent, instanceId, taskId: null }]);
  }
}

/** Until per-instance credentials exist there is nothing to revoke; the hook is here. */
export const noCredentialRevoker: CredentialRevoker = {
  revoke: async () => {},
  restore: async () => {},
};
