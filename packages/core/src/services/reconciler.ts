import { newInstanceId } from '../ids.js';
import { instanceStatus } from '../deployment/instance-health.js';
import { JOB_ENDED, planReconcile, type DesiredDeployment, type JobFacts } from '../deployment/reconcile-plan.js';
import { ACTIVE_STATUSES, isTerminal, statusesBefore } from '../task/lifecycle.js';
import type { Bus } from '../ports/bus.js';
import type { BusCredentials } from '../ports/bus-credentials.js';
import type { Clock } from '../ports/clock.js';
import type { Manifest } from '../manifest/schema.js';
import { agentLoopEnv, egressRulesOf } from '../manifest/agent-loop-env.js';
import { villageEnv } from '../manifest/village-env.js';
import { explainStartError, imageFor } from '../deployment/images.js';
import type { SandboxEvent, SandboxInfo, SandboxRuntime, SandboxSpec } from '../ports/sandbox-runtime.js';
import type { DeploymentRecord, InstanceRecord, Store } from '../ports/store.js';
import { drainPlan } from '../nodes/drain-plan.js';
import { placementNodes, placementRequest, type Fleet, type RemoteInstance } from '../nodes/fleet.js';
import { placeMany } from '../nodes/placement-plan.js';
import { remoteSandboxes } from '../nodes/remote-sandboxes.js';
import type { NodeView } from './nodes.js';
import type { WarmPool, WarmWant } from './warm-pool.js';
import type { Presence } from './ingest.js';

type OomEvent = Extract<SandboxEvent, { kind: 'oom' }>;

export interface ReconcilerDeps {
  store: Store;
  runtime: SandboxRuntime;
  clock: Clock;
  presence: Presence;
  defaultImage: string;
  /** What `image: workbench` means (config runtime.workbenchImage). */
  workbenchImage?: string;
  /** Where instances reach the bus. */
  busUrl: () => string;
  /** Each instance's own bus identity: issued before it starts, revoked when it goes. */
  credentials: BusCredentials;
  /** Since when the control plane hears the bus; heartbeats missed before that prove nothing. */
  busConnectedSince: () => Date | null;
  node: string;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
  /** Secret files a manifest asks for (name → value); throws naming a missing secret. */
  secretFiles?: (manifest: Manifest) => Promise<Record<string, string>>;
  /** The egress proxy as sandboxes reach it, e.g. http://172.20.0.1:3128; null when none runs. */
  egressProxyUrl?: () => string | null;
  /** Called once per OOM kill seen (for metrics). */
  onOom?: (e: OomEvent) => void;
  /** The flock's joined hosts; absent, every instance runs here. */
  fleet?: Fleet;
  /** Called once per instance removed for any reason (for metrics: replacements are restarts). */
  onRemove?: (e: { agent: string; instanceId: string; reason: string }) => void;
  /** Started sandboxes waiting for new instances (manifest `scaling.warm`); absent, every start is cold. */
  warm?: WarmPool;
  /**
   * Orders to one instance on its control subject: a draining node's instance is told to stop
   * (finishing its tasks) rather than removed. Absent, it is removed once replaced.
   */
  control?: Bus['control'];
}

/** Beyond a drained instance's grace (its task timeout): time to report its last result and exit. */
const STOP_MARGIN_MS = 30_000;

/**
 * Makes the sandboxes match the deployments: one pass lists what runs, asks the pure plan
 * what to change, does it, and records every instance's status. Passes never overlap; a
 * poke during a pass schedules exactly one more.
 */
export class Reconciler {
  /** Exited instances remembered per agent. */
  static readonly KEEP_EXITED = 3;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** Why each agent's next instance waits for a node, while it does. */
  private readonly pendingReasons = new Map<string, string>();
  /** What each instance placed on a joined node runs (rebuilt from its deployment after a restart). */
  private readonly remoteSpecs = new Map<string, { node: string; instance: RemoteInstance }>();
  /** Instances told to stop (a drain), until when they may take to finish their tasks (ms). */
  private readonly stopping = new Map<string, number>();
  /** Consecutive start failures per agent, for backoff so a broken image does not spin. */
  private readonly failures = new Map<string, { count: number; until: number }>();

  /**
   * The task each instance of a `lifecycle: job` agent was seen running, so that one whose
   * task ended (timed out, cancelled) is torn down even if its sandbox does not stop by itself.
   */
  private readonly jobOf = new Map<string, string>();

  /**
   * Instances whose sandbox this control plane removed and released (removeOne): what the
   * runtime held for them on this host is gone. One whose sandbox vanished without that (removed
   * by hand, seen dying in a pass's last listing and gone by the next) still holds its log
   * volume and secret files, whatever its record says.
   */
  private readonly released = new Set<string>();

  /** Heartbeats are only known from this moment on (presence is kept in memory). */
  private readonly observingSince: Date;

  constructor(private readonly deps: ReconcilerDeps) {
    this.observingSince = deps.clock.now();
  }

  poke(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && !this.stopped);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /**
   * No pass starts after this, and the one under way (which may be starting a sandbox and
   * mounting its volumes) is waited for, so that a stopping daemon sees every sandbox it made.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<void> {
    const { store, runtime, clock } = this.deps;
    const now = clock.now();
    const deployments = await store.deployments.list();
    const active = deployments.filter((d) => d.state === 'active');
    const listed = await runtime.list();
    for (const id of this.jobOf.keys()) if (!listed.some((s) => s.instanceId === id)) this.jobOf.delete(id);
    const desired: DesiredDeployment[] = [];
    for (const d of active) {
      desired.push({ name: d.name, digest: d.digest, replicas: d.replicas, ...(d.manifest.lifecycle === 'job' ? { jobs: await this.jobFacts(d.name, listed) } : {}) });
    }
    const views = this.deps.fleet ? await this.deps.fleet.nodes() : [];
    this.deps.warm?.want(this.warmWants(active, views.some((v) => !v.local)));
    const remote = this.remote(await store.instances.list(), views, deployments);
    const all = [...listed, ...remote.actual];
    // Quarantined instances are evidence: neither replaced nor removed until released or killed.
    const frozen = new Set(deployments.filter((d) => d.state === 'quarantined').map((d) => d.name));
    const actual = all.filter((s) => !frozen.has(s.agent));
    const unhealthy = this.unhealthy(deployments, actual, now);
    // Instances on draining nodes are held out of the plan (so replacements are placed
    // elsewhere) and go once their replacements answer.
    const draining = new Set(views.filter((v) => v.record.draining).map((v) => v.record.name));
    for (const id of this.stopping.keys()) if (!all.some((s) => s.instanceId === id)) this.stopping.delete(id);
    // One told to stop goes silent once its tasks are done, before its node reports it exited: still held.
    const drain = drainPlan(desired, actual.filter((s) => !unhealthy.has(s.instanceId) || this.stopping.has(s.instanceId)), draining, (s) => this.health(deployments, s, now) === 'running', this.stopping, now.getTime());
    const plan = planReconcile(desired, actual.filter((s) => !drain.held.has(s.instanceId)), unhealthy);
    const untold = await this.stopDrained(drain.stop, active, now);

    // A quarantined one stays recorded even on a lost node: released, it is replaced as lost then.
    const removals = [...remote.lost.filter((r) => !frozen.has(r.agent)).map((r) => ({ ...r, remote: true })), ...[...drain.remove.map((r) => ({ ...r, planned: true })), ...untold, ...plan.remove].map((r) => ({ ...r, remote: this.isRemote(all, r.instanceId) }))];
    for (const r of removals) await this.removeOne(r, all.find((a) => a.instanceId === r.instanceId), desired);
    const byName = new Map(active.map((d) => [d.name, d]));
    let nodes = placementNodes(views);
    const joined = views.some((v) => !v.local);
    for (const s of plan.start) {
      const deployment = byName.get(s.agent)!;
      for (let i = 0; i < s.count; i++) {
        // A single host with no placement asked for: everything runs here, as it always did.
        // GPUs are weighed even then: the node may have none left (or lost its joined GPU nodes
        // since the deploy), and the instance should wait saying so, not fail to start.
        if (!this.deps.fleet || (!joined && !deployment.manifest.placement && !deployment.manifest.resources.gpus)) {
          await this.startOne(deployment, this.deps.node);
          continue;
        }
        const placed = placeMany([placementRequest(s.agent, deployment.manifest)], nodes);
        const decision = placed.decisions[0]!;
        if ('pending' in decision) {
          this.notePending(s.agent, decision.pending);
          break;
        }
        this.pendingReasons.delete(s.agent);
        nodes = placed.nodes;
        await this.startOne(deployment, decision.node);
      }
    }
    for (const agent of [...this.pendingReasons.keys()]) if (!plan.start.some((s) => s.agent === agent)) this.pendingReasons.delete(agent);
    // Listing inspects every container: only list again when this pass changed something.
    const changed = removals.length > 0 || plan.start.length > 0;
    const after = changed ? [...(await runtime.list()), ...this.remote(await store.instances.list(), views, deployments).actual] : all;
    // Quarantined instances keep running (paused) but their credentials were revoked by the
    // kill switch; retaining only what exists never revives them.
    await this.deps.credentials.retain(new Set(after.map((s) => s.instanceId)));
    // Docker may give a restarted container another address, a node another route to the bus;
    // credentials follow. A remote instance whose node has not said where it connects from keeps its binding.
    for (const s of after) if (s.node === this.deps.node || s.address) await this.deps.credentials.bind?.(s.instanceId, s.address ?? null);
    await this.recordStatuses(deployments, after, now);
    await this.publishDesired(views, deployments);
    // In the background: a pass must not wait for sandboxes nobody has asked for yet.
    void this.deps.warm?.refill();
  }

  /**
   * Tell drained instances to stop: no new task, the running ones finish (for up to the
   * agent's task timeout, the longest one may run), then they exit and are removed. Those the
   * order cannot reach are returned, to be removed at once as before.
   */
  private async stopDrained(steps: { instanceId: string; agent: string; reason: string }[], active: DeploymentRecord[], now: Date) {
    const untold: typeof steps = [];
    for (const s of steps) {
      const graceMs = active.find((d) => d.name === s.agent)?.manifest.resources.taskTimeout ?? 0;
      try {
        if (!this.deps.control) throw new Error('no control channel');
        await this.deps.control(s.instanceId, { type: 'stop', reason: s.reason, graceMs });
      } catch {
        untold.push(s);
        continue;
      }
      this.stopping.set(s.instanceId, now.getTime() + graceMs + STOP_MARGIN_MS);
      const msg = `instance stopping: ${s.reason}; it takes no new task and finishes the ones it runs (up to ${Math.round(graceMs / 1000)} s)`;
      this.deps.log('info', `${s.instanceId}: ${msg}`, { agent: s.agent });
      await this.deps.store.logs.append([{ ts: now.toISOString(), level: 'info', msg, agent: s.agent, instanceId: s.instanceId, taskId: null }]);
    }
    return untold;
  }

  /** Warm sandboxes the active deployments ask for on this node (a joined flock places instances elsewhere too: none there). */
  private warmWants(active: DeploymentRecord[], joined: boolean): WarmWant[] {
    const out: WarmWant[] = [];
    for (const d of active) {
      const m = d.manifest;
      const count = m.scaling?.warm ?? 0;
      if (count === 0 || joined || (m.placement && this.deps.fleet)) continue;
      out.push({
        agent: d.name,
        key: { image: imageFor(m.image, this.deps), profile: m.profile, tmpBytes: m.resources.tmp, heartbeatMs: m.heartbeat.interval },
        resources: { cpu: m.resources.cpu, memoryBytes: m.resources.memory, pids: m.resources.pids, tmpBytes: m.resources.tmp },
        count,
      });
    }
    return out;
  }

  /** Why an agent's instances wait for a node (null when they do not): for `agent get` and status. */
  pending(agent: string): string | null {
    return this.pendingReasons.get(agent) ?? null;
  }

  private notePending(agent: string, reason: string): void {
    if (this.pendingReasons.get(agent) === reason) return;
    this.pendingReasons.set(agent, reason);
    this.deps.log('warn', `an instance of ${agent} is pending: ${reason}`, { agent });
  }

  private isRemote(all: SandboxInfo[], instanceId: string): boolean {
    const info = all.find((a) => a.instanceId === instanceId);
    return info !== undefined && info.node !== this.deps.node;
  }

  /** `planned`: it stopped because it was told to (a drain): its exit is no death to record. */
  private async removeOne(r: { instanceId: string; agent: string; reason: string; remote: boolean; planned?: boolean }, info: SandboxInfo | undefined, desired: DesiredDeployment[]): Promise<void> {
    const { store, runtime, clock } = this.deps;
    this.deps.log('info', `removing instance ${r.instanceId}: ${r.reason}`, { agent: r.agent });
    await store.logs.append([
      { ts: clock.now().toISOString(), level: QUIET_REMOVALS.has(r.reason) ? 'info' : 'warn', msg: `instance removed: ${r.reason}`, agent: r.agent, instanceId: r.instanceId, taskId: null },
    ]);
    const ended = r.reason === JOB_ENDED || r.planned === true;
    if (info && !ended) await this.recordExit(info);
    // Cut it off the bus first: whatever it still does before it is gone goes nowhere (on a
    // lost node too, should it come back).
    await this.deps.credentials.revoke(r.instanceId, r.reason);
    // A remote one leaves its node's desired set, published at the end of the pass: the node stops it.
    if (r.remote) this.remoteSpecs.delete(r.instanceId);
    else {
      await runtime.remove(r.instanceId);
      this.released.add(r.instanceId);
    }
    this.stopping.delete(r.instanceId);
    this.deps.presence.forget(r.instanceId);
    this.deps.onRemove?.({ agent: r.agent, instanceId: r.instanceId, reason: r.reason });
    // An instance that died keeps its record (exit code, oom_killed) for people to see.
    const died = !ended && (info?.state === 'exited' || info?.state === 'dead');
    if (!died || !desired.some((d) => d.name === r.agent)) await store.instances.remove(r.instanceId);
  }

  /** The instances on joined nodes, from their records and their nodes' reports. */
  private remote(records: InstanceRecord[], views: NodeView[], deployments: DeploymentRecord[]) {
    if (!this.deps.fleet) return { actual: [] as SandboxInfo[], lost: [] as { instanceId: string; agent: string; reason: string }[] };
    const reports = this.deps.fleet.reports;
    const quarantined = new Set(deployments.filter((d) => d.state === 'quarantined').map((d) => d.name));
    const seen = remoteSandboxes({
      records,
      local: this.deps.node,
      nodes: views.map((v) => ({ name: v.record.name, status: v.status })),
      report: (node) => reports.get(node),
      digestOf: (r) => this.remoteSpecs.get(r.id)?.instance.spec.manifestDigest ?? deployments.find((d) => d.name === r.agent)?.digest ?? '',
    });
    // Released from quarantine: its node reports it paused until it has converged (thawed it), which is no death.
    return { ...seen, actual: seen.actual.map((s) => (s.state === 'paused' && !quarantined.has(s.agent) ? { ...s, state: 'running' as const } : s)) };
  }

  /** Every joined node that listens gets the whole set it must run, credentials included. */
  private async publishDesired(views: NodeView[], deployments: DeploymentRecord[]): Promise<void> {
    const fleet = this.deps.fleet;
    if (!fleet) return;
    const records = await this.deps.store.instances.list();
    for (const v of views) {
      if (v.local || v.status === 'lost') continue;
      const instances: RemoteInstance[] = [];
      for (const r of records.filter((x) => x.node === v.record.name && x.status !== 'exited')) {
        const known = this.remoteSpecs.get(r.id) ?? (await this.rebuildRemote(r, v.record.name, deployments));
        // The kill switch's quarantine reaches a remote sandbox this way: its node freezes it.
        const frozen = deployments.some((d) => d.name === r.agent && d.state === 'quarantined');
        if (known) instances.push({ ...known.instance, frozen });
      }
      await fleet.publish(v.record.name, instances).catch((err: unknown) => this.deps.log('warn', `publishing node ${v.record.name}'s desired state failed: ${String(err)}`, { node: v.record.name }));
    }
  }

  /**
   * After a restart of the control plane: the spec of an instance placed before, from its
   * deployment (same key, same binding). A quarantined one's too, so its node keeps it frozen
   * (its credentials stay suspended: issuing finds them so and hands out none).
   */
  private async rebuildRemote(r: InstanceRecord, node: string, deployments: DeploymentRecord[]) {
    const d = deployments.find((x) => x.name === r.agent && (x.state === 'active' || x.state === 'quarantined'));
    if (!d) return undefined;
    const creds = await this.deps.credentials.issue(r.id, r.agent);
    const entry = { node, instance: { spec: await this.specFor(d, r.id, creds), credentialsDir: creds?.dir ?? null } };
    this.remoteSpecs.set(r.id, entry);
    return entry;
  }

  private async specFor(d: DeploymentRecord, instanceId: string, creds: { dir: string } | null): Promise<SandboxSpec> {
    const m = d.manifest;
    const egress = egressRulesOf(m);
    const proxy = egress.length > 0 ? (this.deps.egressProxyUrl?.() ?? null) : null;
    if (egress.length > 0 && !proxy) throw new Error('the manifest lists egress rules but this flock runs no egress proxy');
    const secretFiles = m.secrets.some((s) => s.file) ? await (this.deps.secretFiles ?? noSecrets)(m) : {};
    const agentLoop = agentLoopEnv(m);
    return {
      ...(creds ? { busCredentialsDir: creds.dir } : {}),
      instanceId,
      agent: d.name,
      image: imageFor(m.image, this.deps),
      profile: m.profile,
      manifestDigest: d.digest,
      resources: { cpu: m.resources.cpu, memoryBytes: m.resources.memory, pids: m.resources.pids, tmpBytes: m.resources.tmp, ...(m.resources.workspace ? { workspaceBytes: m.resources.workspace } : {}), ...(m.resources.gpus ? { gpus: m.resources.gpus } : {}) },
      env: {
        ...m.env,
        AIFLOCK_INSTANCE_ID: instanceId,
        AIFLOCK_AGENT: d.name,
        AIFLOCK_NATS_URL: this.deps.busUrl(),
        AIFLOCK_HANDLERS: m.handlers.join(','),
        AIFLOCK_HEARTBEAT_MS: String(m.heartbeat.interval),
        AIFLOCK_CONCURRENCY: String(m.concurrency),
        ...(m.logLevel ? { AIFLOCK_LOG_LEVEL: m.logLevel } : {}),
        // lifecycle: job — this sandbox takes one task and stops.
        ...(m.lifecycle === 'job' ? { AIFLOCK_ONE_TASK: '1' } : {}),
        // A villager's loop settings; the persona is not secret (it is the agent's prompt).
        ...(m.village ? { AIFLOCK_VILLAGE: villageEnv(m) } : {}),
        // The agent loop's tools and limits (no secrets: the persona is the agent's prompt).
        ...(agentLoop ? { AIFLOCK_AGENT_LOOP: agentLoop } : {}),
        // Only agents with egress rules learn where the proxy is; it refuses all others anyway.
        ...(proxy ? { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy } : {}),
      },
      secretFiles,
    };
  }

  /**
   * One new instance on `node`: here through the runtime, on a joined node by recording it and
   * adding it to that node's desired set (its credentials bound to where the node reaches the bus).
   */
  private async startOne(d: DeploymentRecord, node: string): Promise<void> {
    const now = this.deps.clock.now().getTime();
    const failed = this.failures.get(d.name);
    if (failed && failed.until > now) return;
    const m = d.manifest;
    const instanceId = newInstanceId(d.name);
    const began = this.deps.clock.now();
    let how: 'warm' | 'cold' | null = null;
    try {
      const creds = await this.deps.credentials.issue(instanceId, d.name);
      const spec = await this.specFor(d, instanceId, creds);
      if (node === this.deps.node) {
        // A claimed warm sandbox connects the moment it learns who it is: its credentials are bound to its address first.
        const bindFirst = (claimed: SandboxInfo) => this.deps.credentials.bind?.(instanceId, claimed.address ?? null) ?? Promise.resolve();
        const claimed = await this.deps.warm?.claim(spec, bindFirst);
        const info = claimed ?? (await this.deps.runtime.start(spec));
        how = claimed ? 'warm' : 'cold';
        // The credentials were issued usable from nowhere; now that the sandbox has its address,
        // they work from there only (the agent retries until the bound file is in place).
        await this.deps.credentials.bind?.(instanceId, info.address ?? null);
        await this.deps.store.instances.upsert({ id: instanceId, agent: d.name, status: 'starting', handle: info.handle, node: info.node, startedAt: info.startedAt, lastHeartbeatAt: null, exitCode: null, oomKilled: false });
      } else {
        const address = this.deps.fleet?.reports.get(node)?.busAddress;
        if (address) await this.deps.credentials.bind?.(instanceId, address);
        this.remoteSpecs.set(instanceId, { node, instance: { spec, credentialsDir: creds?.dir ?? null } });
        await this.deps.store.instances.upsert({ id: instanceId, agent: d.name, status: 'starting', handle: null, node, startedAt: new Date(now).toISOString(), lastHeartbeatAt: null, exitCode: null, oomKilled: false });
      }
      this.failures.delete(d.name);
      // When the start began and how (a warm claim or a cold start): where bench/warm-pool.ts measures from.
      const timing = how ? { start: how, startBeganAt: began.toISOString(), startMs: this.deps.clock.now().getTime() - began.getTime() } : {};
      this.deps.log('info', `started instance ${instanceId}${node === this.deps.node ? '' : ` on node ${node}`}${how ? ` (${how}, ${timing.startMs} ms)` : ''}`, { agent: d.name, node, instanceId, ...timing });
    } catch (err) {
      await this.deps.credentials.revoke(instanceId, 'its sandbox did not start').catch(() => undefined);
      const count = (failed?.count ?? 0) + 1;
      this.failures.set(d.name, { count, until: now + Math.min(60_000, 1_000 * 2 ** count) });
      const why = explainStartError(err, m.image);
      this.deps.log('error', `could not start an instance of ${d.name}: ${why}`, { agent: d.name });
      await this.deps.store.logs.append([
        { ts: new Date(now).toISOString(), level: 'error', msg: `could not start instance: ${why}`, agent: d.name, instanceId, taskId: null },
      ]);
    }
  }

  /** What the plan needs to run a `lifecycle: job` agent: its open tasks, and which of its instances hold one or are done. */
  private async jobFacts(agent: string, listed: SandboxInfo[]): Promise<JobFacts> {
    const open = await this.deps.store.tasks.list({ agent, status: statusesBefore('cancelled'), limit: 500 });
    const busy = new Set<string>();
    for (const t of open) {
      if (!t.instanceId || !(ACTIVE_STATUSES as readonly string[]).includes(t.status)) continue;
      busy.add(t.instanceId);
      this.jobOf.set(t.instanceId, t.id);
    }
    const done = new Set<string>();
    for (const s of listed) {
      const taskId = s.agent === agent && !busy.has(s.instanceId) ? this.jobOf.get(s.instanceId) : undefined;
      const task = taskId ? await this.deps.store.tasks.get(taskId) : undefined;
      if (taskId && (!task || isTerminal(task.status))) done.add(s.instanceId);
    }
    return { pending: open.length, busy, done };
  }

  /**
   * An instance was killed for exceeding its memory limit. The restart policy is Docker's
   * on-failure (up to 5 restarts, so a crash loop ends); after that the reconciler replaces it.
   */
  /** What the runtime saw between listings. */
  async recordEvent(e: SandboxEvent): Promise<void> {
    if (e.kind === 'oom') return this.recordOom(e);
    // Shown by `agent get`; the reconciler's own verdict stays on heartbeats (see Presence).
    this.deps.presence.checked(e.instanceId, e.health);
    if (e.health === 'unhealthy') this.deps.log('warn', `instance ${e.instanceId} failed its sandbox health check (its runtime stopped writing its liveness file)`, { agent: e.agent, instanceId: e.instanceId });
  }

  private async recordOom(e: OomEvent): Promise<void> {
    const prev = await this.deps.store.instances.get(e.instanceId);
    if (prev) await this.deps.store.instances.upsert({ ...prev, oomKilled: true });
    this.deps.onOom?.(e);
    this.deps.log('warn', `instance ${e.instanceId} was killed for exceeding its memory limit (oom_killed)`, { agent: e.agent, instanceId: e.instanceId });
    await this.deps.store.logs.append([
      {
        ts: this.deps.clock.now().toISOString(),
        level: 'warn',
        msg: 'instance killed for exceeding its memory limit (oom_killed); the restart policy restarts it',
        agent: e.agent,
        instanceId: e.instanceId,
        taskId: null,
      },
    ]);
    void this.poke();
  }

  private async recordExit(info: SandboxInfo): Promise<void> {
    if (info.state !== 'exited' && info.state !== 'dead') return;
    const prev = await this.deps.store.instances.get(info.instanceId);
    await this.deps.store.instances.upsert({
      ...(prev ?? { id: info.instanceId, agent: info.agent, handle: info.handle, node: info.node, startedAt: info.startedAt, lastHeartbeatAt: null }),
      status: 'exited',
      exitCode: info.exitCode,
      oomKilled: info.oomKilled,
    });
    const why = info.oomKilled ? 'killed for exceeding its memory limit (oom_killed)' : `exited with code ${info.exitCode ?? '?'}`;
    await this.deps.store.logs.append([
      { ts: this.deps.clock.now().toISOString(), level: 'warn', msg: `instance ${why}`, agent: info.agent, instanceId: info.instanceId, taskId: null },
    ]);
  }

  private health(deployments: DeploymentRecord[], s: SandboxInfo, now: Date) {
    const heartbeatMs = deployments.find((d) => d.name === s.agent)?.manifest.heartbeat.interval ?? 30_000;
    const started = s.startedAt ? Date.parse(s.startedAt) : 0;
    const listening = this.deps.busConnectedSince();
    const last = this.deps.presence.last(s.instanceId);
    if (!listening) {
      // Deaf, so no judgement on liveness: keep what the last heartbeat said.
      const st = instanceStatus(s.state, null, heartbeatMs, now);
      return st === 'starting' && last && s.state === 'running' ? 'running' : st;
    }
    // Released from quarantine: heartbeats before that say nothing; it gets a new instance's
    // grace to reconnect, so release resumes it rather than replacing it.
    const resumed = this.deps.presence.resumedAt(s.instanceId);
    if (resumed && (!last || last.getTime() < resumed.getTime())) {
      return instanceStatus(s.state, null, heartbeatMs, now, new Date(Math.max(resumed.getTime(), listening.getTime())), this.deps.runtime.capabilities.startupGraceMs);
    }
    const silentSince = new Date(Math.max(started, this.observingSince.getTime(), listening.getTime()));
    // Silence is only counted from when we could have heard it.
    const heard = last && last.getTime() < listening.getTime() ? listening : last;
    return instanceStatus(s.state, heard, heartbeatMs, now, silentSince, this.deps.runtime.capabilities.startupGraceMs);
  }

  private unhealthy(deployments: DeploymentRecord[], sandboxes: SandboxInfo[], now: Date): Set<string> {
    return new Set(sandboxes.filter((s) => this.health(deployments, s, now) === 'unhealthy').map((s) => s.instanceId));
  }

  private async recordStatuses(deployments: DeploymentRecord[], sandboxes: SandboxInfo[], now: Date): Promise<void> {
    for (const s of sandboxes) {
      if (s.health !== undefined) this.deps.presence.checked(s.instanceId, s.health);
      const last = this.deps.presence.last(s.instanceId);
      const prev = await this.deps.store.instances.get(s.instanceId);
      await this.deps.store.instances.upsert({
        id: s.instanceId,
        agent: s.agent,
        status: this.health(deployments, s, now),
        handle: s.handle,
        node: s.node,
        startedAt: s.startedAt,
        lastHeartbeatAt: last?.toISOString() ?? prev?.lastHeartbeatAt ?? null,
        exitCode: s.exitCode,
        // Sticky: a container Docker restarted after an OOM kill no longer says so.
        oomKilled: s.oomKilled || (prev?.oomKilled ?? false),
      });
    }
    // Records of instances the runtime no longer knows (removed by hand) are dropped, and
    // of the dead only the most recent few per agent are kept, so a crash loop stays bounded.
    const known = new Set(sandboxes.map((s) => s.instanceId));
    const exitedPerAgent = new Map<string, number>();
    const records = (await this.deps.store.instances.list()).sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
    for (const r of records) {
      if (known.has(r.id)) continue;
      // Its sandbox went without us (removed by hand, or last listed dying and gone since):
      // what the runtime still holds for it on this host (its log volume, its secret files)
      // is released all the same.
      if (!this.released.has(r.id) && r.node === this.deps.node) {
        await this.deps.runtime.remove(r.id).catch((err: unknown) => this.deps.log('warn', `releasing what ${r.id} left behind: ${String(err)}`, { agent: r.agent }));
        this.released.add(r.id);
      }
      if (r.status !== 'exited') {
        await this.deps.store.instances.remove(r.id);
        this.released.delete(r.id);
        continue;
      }
      const n = (exitedPerAgent.get(r.agent) ?? 0) + 1;
      exitedPerAgent.set(r.agent, n);
      if (n > Reconciler.KEEP_EXITED) {
        await this.deps.store.instances.remove(r.id);
        this.released.delete(r.id);
      }
    }
  }
}

/** Removals that are the flock doing its job, not something going wrong. */
const QUIET_REMOVALS = new Set(['scaled down', 'manifest changed', JOB_ENDED, 'no job left for it']);

const noSecrets = async (): Promise<Record<string, string>> => {
  throw new Error('the manifest asks for secret files but this flock has no secret store');
};
