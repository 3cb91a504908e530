import { FlockError, type HealthCheck, type SandboxCapabilities, type SandboxCapacity, type SandboxEvent, type SandboxInfo, type SandboxRuntime, type SandboxSpec, type SandboxStats, type ExecRequest, type ExecSession, type SandboxResources, type WarmKey, type WarmSandbox } from '@aiflock/core';
import type { OperatorSandboxRuntime, RuntimeLog } from './shared/host-runtime.js';

/**
 * One SandboxRuntime for the reconciler and the kill switch: `restricted` sandboxes go to the
 * main runtime, `operator` ones to the operator engine. Without an operator engine the
 * operator profile is refused, never run as something else.
 */
export class ProfileRouter implements SandboxRuntime {
  readonly kind: string;
  /** Instances known to live on the operator engine (from start() and every list()). */
  private readonly onOperator = new Set<string>();
  private operatorReady = false;
  private operatorProblem = 'no operator engine is configured (runtime.operatorEngine or AIFLOCK_OPERATOR_ENGINE)';

  constructor(
    private readonly main: SandboxRuntime,
    private readonly operator: OperatorSandboxRuntime | null,
    private readonly log: RuntimeLog = () => {},
    /** Why there is no operator engine, when there is a better reason than "not configured". */
    noEngineReason?: string,
  ) {
    this.kind = main.kind;
    if (!operator && noEngineReason) this.operatorProblem = noEngineReason;
  }

  /** The main runtime's: operator sandboxes are the exception the router handles itself. */
  get capabilities(): SandboxCapabilities {
    return this.main.capabilities;
  }

  /** Both engines run on this node: the main runtime's capacity is the node's. */
  async capacity(): Promise<SandboxCapacity> {
    if (!this.main.capacity) throw new Error(`the ${this.main.kind} runtime does not report its capacity`);
    return this.main.capacity();
  }

  async init(): Promise<void> {
    await this.main.init();
    await this.initOperator();
  }

  /** A missing or non-remapping operator engine must not stop the restricted sandboxes. */
  async initOperator(): Promise<boolean> {
    if (!this.operator) return false;
    try {
      await this.operator.init();
      this.operatorReady = true;
    } catch (err) {
      this.operatorReady = false;
      this.operatorProblem = (err as Error).message;
      this.log('error', `operator sandboxes are unavailable: ${this.operatorProblem}`);
    }
    return this.operatorReady;
  }

  /** For /readyz and status: whether operator sandboxes can run here, and why not. */
  async operatorHealth(): Promise<HealthCheck> {
    if (!this.operator) return { ok: false, detail: this.operatorProblem };
    if (!this.operatorReady) await this.initOperator();
    if (!this.operatorReady) return { ok: false, detail: this.operatorProblem };
    return this.operator.ping();
  }

  get hasOperatorEngine(): boolean {
    return this.operator !== null;
  }

  /**
   * Why a profile can never run here (deploy-time refusal), or null. A configured operator
   * engine that is down is not a refusal: it may come back, and /readyz says it is down.
   */
  refusal(profile: SandboxSpec['profile']): string | null {
    return profile === 'operator' && !this.operator ? `profile "operator" is refused on this node: ${this.operatorProblem}; it is never run as another profile` : null;
  }

  async start(spec: SandboxSpec): Promise<SandboxInfo> {
    if (spec.profile !== 'operator') return this.main.start(spec);
    if (!this.operator) throw new FlockError('validation_failed', this.refusal('operator')!, { field: 'profile', value: 'operator' });
    if (!this.operatorReady && !(await this.initOperator())) throw new FlockError('runtime_unavailable', `operator sandboxes are unavailable: ${this.operatorProblem}`);
    this.onOperator.add(spec.instanceId);
    return this.operator.start(spec);
  }

  /** Warm sandboxes run the restricted profile on the main runtime only (deploy admission refuses the operator profile with `scaling.warm`). */
  warmUp(key: WarmKey, resources: SandboxResources): Promise<WarmSandbox> {
    if (key.profile === 'operator' || !this.main.warmUp) return Promise.reject(new FlockError('validation_failed', `the ${this.kind} runtime keeps no warm ${key.profile} sandboxes`, { field: 'scaling.warm' }));
    return this.main.warmUp(key, resources);
  }

  async listWarm(): Promise<WarmSandbox[]> {
    return (await this.main.listWarm?.()) ?? [];
  }

  claimWarm(warm: WarmSandbox, spec: SandboxSpec, beforeIdentity?: (info: SandboxInfo) => Promise<void>): Promise<SandboxInfo> {
    if (spec.profile === 'operator' || !this.main.claimWarm) return Promise.reject(new FlockError('validation_failed', `the ${this.kind} runtime keeps no warm ${spec.profile} sandboxes`, { field: 'scaling.warm' }));
    return this.main.claimWarm(warm, spec, beforeIdentity);
  }

  async discardWarm(id: string): Promise<void> {
    await this.main.discardWarm?.(id);
  }

  private target(instanceId: string): SandboxRuntime {
    return this.operator && this.onOperator.has(instanceId) ? this.operator : this.main;
  }

  stop(instanceId: string, graceMs: number): Promise<void> {
    return this.target(instanceId).stop(instanceId, graceMs);
  }

  async remove(instanceId: string): Promise<void> {
    await this.target(instanceId).remove(instanceId);
    this.onOperator.delete(instanceId);
  }

  quarantine(instanceId: string): Promise<void> {
    return this.target(instanceId).quarantine(instanceId);
  }

  release(instanceId: string): Promise<void> {
    return this.target(instanceId).release(instanceId);
  }

  kill(instanceId: string): Promise<void> {
    return this.target(instanceId).kill(instanceId);
  }

  /** Present on the router always; the instance's own runtime may still refuse (exec_unsupported). */
  async exec(instanceId: string, request: ExecRequest): Promise<ExecSession> {
    const runtime = this.target(instanceId);
    if (!runtime.exec || !runtime.capabilities.exec) throw execUnsupported(runtime.kind);
    return runtime.exec(instanceId, request);
  }

  async stats(instanceId: string): Promise<SandboxStats | null> {
    const runtime = this.target(instanceId);
    return runtime.stats ? runtime.stats(instanceId) : null;
  }

  /**
   * Both engines. An operator engine that does not answer costs only its own instances (they
   * are not listed, so their agents are seen as down), never the restricted ones.
   */
  async list(): Promise<SandboxInfo[]> {
    const main = await this.main.list();
    if (!this.operator || !this.operatorReady) return main;
    try {
      const op = await this.operator.list();
      this.onOperator.clear();
      for (const s of op) this.onOperator.add(s.instanceId);
      return [...main, ...op];
    } catch (err) {
      this.log('warn', `the operator engine did not answer a listing: ${(err as Error).message}`);
      return main;
    }
  }

  ping(): Promise<HealthCheck> {
    return this.main.ping();
  }

  busUrlForSandboxes(): string {
    return this.main.busUrlForSandboxes();
  }

  watch(listener: (e: SandboxEvent) => void): () => void {
    const stops = [this.main.watch?.(listener), this.operator?.watch(listener)];
    return () => stops.forEach((s) => s?.());
  }

  /** The operator engine's instances; the main runtime's are disposed by its owner. */
  async disposeOperator(): Promise<void> {
    if (this.operator && this.operatorReady) await this.operator.dispose();
  }
}

export const execUnsupported = (kind: string) =>
  new FlockError('exec_unsupported', `the ${kind} runtime cannot run commands in its sandboxes (aiflock agent exec needs the docker runtime); read the agent's logs instead`, { runtime: kind });
