import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { NodeDesiredState, nodeSubjects, type NodeDesiredInstance, type NodeHeartbeat } from '@aiflock/protocol';
import { hostCapacity } from '../nodes/host-capacity.js';
import { RUNTIME_FACTORIES } from '../adapters/runtimes/registry.js';
import type { HostRuntime, RuntimeLog } from '../adapters/runtimes/shared/host-runtime.js';
import { SANDBOX_GID, SANDBOX_UID } from '../adapters/runtimes/shared/shared-storage.js';
import { CREDS_FILE } from '../adapters/nats/jwt-credentials.js';
import { VERSION } from '../version.js';
import { nodeRuntime, reclaimOrphans } from './node-runtime.js';
import { serveNodeOps } from './node-ops.js';
import { natsNodeWire } from '../nodes/node-wire.js';

const run = promisify(execFile);

/** What `aiflock node join` learnt from the control plane, and the node's own settings. */
export interface NodeAgentSettings {
  name: string;
  natsUrl: string;
  /** The `.creds` text (null when the bus runs without authentication). */
  creds: string | null;
  inboxPrefix: string;
  heartbeatMs: number;
  /** The flock's name (what the runtime makes on this host is named after it and the node). */
  flock: string;
  /** The runtime kind sandboxes run with here; unset: Docker when it answers, else the first available. */
  runtime?: string;
}

/**
 * The node agent: one per extra host. It connects to the flock's bus with its node's own
 * credentials (allowed only `node.<name>.>`, and to read its own desired state), runs the
 * sandboxes the control plane wants here through this host's own runtime, and heartbeats its
 * capacity and what runs. It decides nothing and issues nothing: the control plane places
 * instances and hands over their bus credentials with the desired state.
 */
export class NodeAgent {
  private timer: NodeJS.Timeout | null = null;
  /** The newest desired state not yet converged to (older ones are superseded). */
  private next: NodeDesiredState | null = null;
  private converging: Promise<void> | null = null;

  private constructor(
    private readonly s: NodeAgentSettings,
    private readonly nc: NatsConnection,
    private readonly runtimes: string[],
    private readonly runtime: HostRuntime,
    private readonly log: (msg: string) => void,
    /** Exec and stats for the control plane (node-ops.ts): its open exec sessions are ended by `stop`. */
    private readonly ops: { stop: () => Promise<void> },
  ) {}

  static async start(s: NodeAgentSettings, log: (msg: string) => void): Promise<NodeAgent> {
    const available = await availableRuntimes();
    const kind = s.runtime ?? (available.includes('docker') ? 'docker' : available[0]);
    if (!kind || !available.includes(kind)) throw new Error(`runtime "${kind ?? 'none'}" cannot run on this host (available here: ${available.join(', ') || 'none'})`);
    const runtimeLog: RuntimeLog = (level, msg) => level !== 'debug' && log(msg);
    const runtime = nodeRuntime(s, kind, runtimeLog);
    if (!runtime.capabilities.survivesRestart) {
      const reclaimed = await reclaimOrphans(s.flock, s.name, runtimeLog);
      if (reclaimed > 0) log(`ended ${reclaimed} sandbox(es) a previous run of this node agent left behind`);
    }
    await runtime.init();
    const nc = await connect({
      servers: s.natsUrl.split(',').map((u) => u.trim()),
      name: `aiflock-node-${s.name}`,
      inboxPrefix: s.inboxPrefix,
      maxReconnectAttempts: -1,
      // A control plane that is restarting, or a slow handshake on a busy host, is waited for.
      waitOnFirstConnect: true,
      ...(s.creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(s.creds)) } : {}),
    });
    // Exec and stats for the control plane, through this host's runtime (it never reaches a remote engine).
    const agent = new NodeAgent(s, nc, available, runtime, log, serveNodeOps(natsNodeWire(nc), s.name, runtime, log));
    agent.follow();
    await agent.beat();
    agent.timer = setInterval(() => void agent.beat().catch((err: unknown) => log(`heartbeat failed: ${String(err)}`)), s.heartbeatMs);
    log(`running sandboxes with the ${runtime.kind} runtime`);
    return agent;
  }

  /** Desired states as they come; each one whole, converged to one at a time. */
  private follow(): void {
    const sub = this.nc.subscribe(nodeSubjects.desired(this.s.name));
    void (async () => {
      for await (const m of sub) {
        const parsed = NodeDesiredState.safeParse(JSON.parse(new TextDecoder().decode(m.data)));
        if (!parsed.success || parsed.data.node !== this.s.name) {
          this.log(`ignored a desired state that is not this node's: ${parsed.success ? parsed.data.node : parsed.error.issues[0]?.message}`);
          continue;
        }
        this.next = parsed.data;
        this.converging ??= this.drainQueue();
      }
    })();
  }

  private async drainQueue(): Promise<void> {
    try {
      while (this.next) {
        const state = this.next;
        this.next = null;
        if (await this.converge(state).catch((err: unknown) => (this.log(`converging failed: ${String(err)}`), false))) await this.beat().catch(() => undefined);
      }
    } finally {
      this.converging = null;
    }
  }

  /** Stop what is not wanted, start what is missing; true when something changed. */
  private async converge(state: NodeDesiredState): Promise<boolean> {
    const listed = await this.runtime.list();
    const want = new Map(state.instances.map((i) => [i.instanceId, i]));
    let changed = false;
    for (const s of listed) {
      if (want.has(s.instanceId)) continue;
      this.log(`stopping ${s.instanceId}: the control plane no longer wants it here`);
      await this.runtime.remove(s.instanceId);
      await rm(this.credentialsDir(s.instanceId), { recursive: true, force: true });
      changed = true;
    }
    for (const d of state.instances) {
      // Renewed credentials arrive with every desired state; a running sandbox reads the file on reconnect.
      const dir = await this.writeCredentials(d);
      // Running or ended, it stays as it is: the control plane decides what replaces an ended one.
      const held = listed.find((s) => s.instanceId === d.instanceId);
      if (held) {
        changed = (await this.freezeOrThaw(d, held.state)) || changed;
        continue;
      }
      try {
        await this.runtime.start({
          instanceId: d.instanceId,
          agent: d.agent,
          image: d.image,
          profile: d.profile,
          manifestDigest: d.manifestDigest,
          resources: d.resources,
          secretFiles: d.secretFiles,
          env: { ...d.env, AIFLOCK_NATS_URL: this.runtime.busUrlForSandboxes() },
          ...(dir ? { busCredentialsDir: dir } : {}),
        });
        this.log(`started ${d.instanceId}`);
        changed = true;
      } catch (err) {
        // Reported by its absence: the control plane replaces an instance that never speaks.
        this.log(`could not start ${d.instanceId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return changed;
  }

  /**
   * The kill switch's quarantine, carried by the desired state: paused where it stands with its
   * network cut (files kept for inspection), and thawed again on release.
   */
  private async freezeOrThaw(d: NodeDesiredInstance, state: string): Promise<boolean> {
    if (d.frozen && state !== 'paused') {
      await this.runtime.quarantine(d.instanceId);
      this.log(`quarantined ${d.instanceId}: paused, network cut`);
      return true;
    }
    if (!d.frozen && state === 'paused') {
      await this.runtime.release(d.instanceId);
      this.log(`released ${d.instanceId}`);
      return true;
    }
    return false;
  }

  private credentialsDir(instanceId: string): string {
    return join(this.runtime.credentialsRoot() ?? join(`/var/lib/aiflock-node-credentials`, this.s.flock), instanceId);
  }

  /** The instance's credentials file, as the sandbox user reads it (written beside and renamed: never half a file). */
  private async writeCredentials(d: NodeDesiredInstance): Promise<string | null> {
    if (!d.creds) return null;
    const dir = this.credentialsDir(d.instanceId);
    const file = join(dir, CREDS_FILE);
    if ((await readFile(file, 'utf8').catch(() => null)) === d.creds) return dir;
    await mkdir(join(dir, '..'), { recursive: true, mode: 0o711 });
    await mkdir(dir, { recursive: true, mode: 0o500 });
    const tmp = join(dir, `.${CREDS_FILE}.tmp`);
    await writeFile(tmp, d.creds, { mode: 0o400 });
    await chown(tmp, SANDBOX_UID, SANDBOX_GID);
    await rename(tmp, file);
    await chown(dir, SANDBOX_UID, SANDBOX_GID);
    await chmod(dir, 0o500);
    return dir;
  }

  private async beat(): Promise<void> {
    const instances = await this.runtime.list();
    const beat: NodeHeartbeat = {
      node: this.s.name,
      ts: new Date().toISOString(),
      intervalMs: this.s.heartbeatMs,
      capacity: await hostCapacity({ runtimes: this.runtimes, measured: await this.runtime.capacity?.(), gpuSandboxes: this.runtime.capabilities.gpus }),
      version: VERSION,
      instances: instances.map((i) => ({ id: i.instanceId, agent: i.agent, state: i.state, exitCode: i.exitCode, oomKilled: i.oomKilled, startedAt: i.startedAt, manifestDigest: i.manifestDigest, handle: i.handle })),
      // As the server sees this connection: where the control plane binds its sandboxes' credentials.
      busAddress: this.nc.info?.client_ip ?? null,
    };
    this.nc.publish(nodeSubjects.heartbeat(this.s.name), JSON.stringify(beat));
    await this.nc.flush();
  }

  /** Resolves when the connection closes (the server cut it: the node was removed). */
  closed(): Promise<void | Error> {
    return this.nc.closed();
  }

  /**
   * Stop heartbeating, end the exec sessions run through this node (telling the control plane
   * why), and leave the bus. Sandboxes that survive a restart (Docker) keep running
   * and are found again by the next run; the others end with the node agent.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Before the drain: the exec sessions' last frames (why they end) go out on this connection,
    // and their acknowledgements come back on it, or their clients would wait out the silence.
    await this.ops.stop().catch((err: unknown) => this.log(`ending the exec sessions: ${String(err)}`));
    await this.converging?.catch(() => undefined);
    await this.nc.drain().catch(() => undefined);
    if (!this.runtime.capabilities.survivesRestart) await this.runtime.dispose().catch(() => undefined);
  }
}

/** The runtime kinds this host can run: Docker answering, bubblewrap installed, QEMU installed. */
async function availableRuntimes(): Promise<string[]> {
  const probes: Record<string, () => Promise<unknown>> = {
    docker: () => run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 }),
    process: () => run('bwrap', ['--version'], { timeout: 10_000 }),
    vm: () => run('qemu-system-x86_64', ['--version'], { timeout: 10_000 }),
  };
  const kinds = RUNTIME_FACTORIES.map((f) => f.kind);
  const ok = await Promise.all(kinds.map(async (k) => ((await probes[k]?.().then(() => true, () => false)) ? k : null)));
  return ok.filter((k): k is (typeof kinds)[number] => k !== null);
}
