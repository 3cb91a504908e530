import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { nodeSubjects, type NodeHeartbeat } from '@aiflock/protocol';
import { hostCapacity } from '../nodes/host-capacity.js';
import { RUNTIME_FACTORIES } from '../adapters/runtimes/registry.js';
import { VERSION } from '../version.js';

const run = promisify(execFile);

/** What `aiflock node join` learnt from the control plane, and the node's own settings. */
export interface NodeAgentSettings {
  name: string;
  natsUrl: string;
  /** The `.creds` text (null when the bus runs without authentication). */
  creds: string | null;
  inboxPrefix: string;
  heartbeatMs: number;
}

/**
 * The node agent: one per extra host. It connects to the flock's bus with its node's own
 * credentials (allowed only `node.<name>.>`) and heartbeats its capacity. The control plane
 * never reaches into the host; what it knows of it is what the node reports.
 */
export class NodeAgent {
  private timer: NodeJS.Timeout | null = null;
  private constructor(
    private readonly s: NodeAgentSettings,
    private readonly nc: NatsConnection,
    private readonly runtimes: string[],
    private readonly log: (msg: string) => void,
  ) {}

  static async start(s: NodeAgentSettings, log: (msg: string) => void): Promise<NodeAgent> {
    const nc = await connect({
      servers: s.natsUrl,
      name: `aiflock-node-${s.name}`,
      inboxPrefix: s.inboxPrefix,
      maxReconnectAttempts: -1,
      // A control plane that is restarting, or a slow handshake on a busy host, is waited for.
      waitOnFirstConnect: true,
      ...(s.creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(s.creds)) } : {}),
    });
    const agent = new NodeAgent(s, nc, await availableRuntimes(), log);
    await agent.beat();
    agent.timer = setInterval(() => void agent.beat().catch((err: unknown) => log(`heartbeat failed: ${String(err)}`)), s.heartbeatMs);
    return agent;
  }

  private async beat(): Promise<void> {
    const beat: NodeHeartbeat = {
      node: this.s.name,
      ts: new Date().toISOString(),
      intervalMs: this.s.heartbeatMs,
      capacity: await hostCapacity({ runtimes: this.runtimes }),
      version: VERSION,
      instances: [],
    };
    this.nc.publish(nodeSubjects.heartbeat(this.s.name), JSON.stringify(beat));
    await this.nc.flush();
  }

  /** Resolves when the connection closes (the server cut it: the node was removed). */
  closed(): Promise<void | Error> {
    return this.nc.closed();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.nc.drain().catch(() => undefined);
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
