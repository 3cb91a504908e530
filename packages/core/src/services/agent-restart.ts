import { FlockError } from '../errors.js';
import { assertMayManageAgent, type Manager } from '../auth/agent-access.js';
import type { Clock } from '../ports/clock.js';
import type { ContextStore } from '../ports/context-store.js';
import type { SandboxRuntime } from '../ports/sandbox-runtime.js';
import type { DeploymentRecord, Store } from '../ports/store.js';
import type { DeploymentService } from './deployments.js';

export interface AgentRestartDeps {
  store: Pick<Store, 'deployments' | 'instances'>;
  memories: Pick<ContextStore['memories'], 'list' | 'remove'>;
  runtime: Pick<SandboxRuntime, 'stop'>;
  deployments: Pick<DeploymentService, 'require' | 'get'>;
  clock: Clock;
  /** Empty the agent's workspace (`/shared/agents/<name>`); true when there was one. */
  wipeWorkspace(agent: string): Promise<boolean>;
  /** Wake the reconciler, which starts the new instances. */
  poke(): void;
  /** How long an instance may take to stop after SIGTERM. */
  graceMs: number;
}

/**
 * `aiflock agent restart` and `aiflock agent reset`: fresh instances of the same manifest.
 * Their instances are stopped (SIGTERM, then SIGKILL after the grace period) and the
 * reconciler starts new ones, as for any instance that ended; a task one was running is
 * redelivered to the next. A reset also forgets what the agent accumulated: its memory
 * stream and the files in its workspace. Its logs, balance, chats and task history stay.
 */
export class AgentRestarts {
  constructor(private readonly deps: AgentRestartDeps) {}

  async restart(name: string, by: Manager) {
    await this.startable(name, by, 'restart');
    const replaced = await this.stopInstances(name);
    this.deps.poke();
    return { agent: await this.deps.deployments.get(name), replaced };
  }

  async reset(name: string, by: Manager) {
    const record = await this.startable(name, by, 'reset');
    // Stopped while it is wiped: no instance writes to the workspace, none is started meanwhile.
    await this.setState(record, 'stopped');
    let replaced: string[] = [];
    let memoriesForgotten = 0;
    let workspaceWiped = false;
    try {
      replaced = await this.stopInstances(name);
      memoriesForgotten = await this.forgetMemories(name);
      workspaceWiped = await this.deps.wipeWorkspace(name);
    } finally {
      await this.setState(await this.deps.deployments.require(name), 'active');
      this.deps.poke();
    }
    return { agent: await this.deps.deployments.get(name), replaced, memoriesForgotten, workspaceWiped };
  }

  private async startable(name: string, by: Manager, action: string): Promise<DeploymentRecord> {
    const record = await this.deps.deployments.require(name);
    assertMayManageAgent(by, name, record, action);
    if (record.state === 'quarantined') throw new FlockError('agent_quarantined', `agent "${name}" is quarantined; release it (aiflock agent release ${name}) before you ${action} it`, { agent: name });
    if (record.state === 'stopped') throw new FlockError('agent_stopped', `agent "${name}" is stopped, so it has no instances to ${action}; start it with: aiflock agent scale ${name} <replicas>`, { agent: name });
    return record;
  }

  private async stopInstances(name: string): Promise<string[]> {
    const live = (await this.deps.store.instances.list(name)).filter((i) => i.status !== 'exited' && i.status !== 'stopped');
    await Promise.all(live.map((i) => this.deps.runtime.stop(i.id, this.deps.graceMs)));
    return live.map((i) => i.id);
  }

  private async forgetMemories(name: string): Promise<number> {
    let forgotten = 0;
    for (;;) {
      const batch = await this.deps.memories.list(name, 500);
      if (batch.length === 0) return forgotten;
      await this.deps.memories.remove(name, batch.map((m) => m.id));
      forgotten += batch.length;
    }
  }

  private async setState(record: DeploymentRecord, state: DeploymentRecord['state']): Promise<void> {
    await this.deps.store.deployments.upsert({ ...record, state, updatedAt: this.deps.clock.now().toISOString() });
  }
}
