import { spawn } from 'node:child_process';
import type { Isolation } from '../shared/host-runtime.js';
import { firewallChainNames } from './names.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be run at all (e.g. ENOENT). */
  error?: string;
}

export type CommandRunner = (cmd: string, args: string[], input?: string) => Promise<CommandResult>;

/** argv only, never a shell: nothing in a flock name can become shell syntax. */
export const runCommand: CommandRunner = (cmd, args, input) =>
  new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: null, stdout, stderr, error: err.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });

export interface HostFirewallOptions {
  flock: string;
  bridgeInterface: string;
  gatewayIp: string;
  busPort: number;
  /** The flock's egress proxy on the gateway, when it runs one. */
  proxyPort?: number;
  run?: CommandRunner;
}

/**
 * Two host-side guards for a flock's bridge.
 *
 * INPUT: an internal network still lets sandboxes reach every port of the host through the
 * gateway address; only replies and TCP to the bus port on the gateway get in.
 *
 * FORWARD: before Docker 25, containers on an internal network still get a default route via
 * the gateway, and only Docker's own isolation rules drop what they send beyond the subnet.
 * Our own rule does not depend on Docker's, and rejects at once (ENETUNREACH, as Docker 25+
 * does) instead of leaving connects to time out. Sandbox-to-sandbox traffic on the same
 * bridge is left to the network's ICC=false drop. The forward guard hangs off DOCKER-USER
 * when it exists: Docker moves its own FORWARD jumps back to the top whenever it creates a
 * network, but always evaluates DOCKER-USER first and never flushes it.
 */
export class HostFirewall {
  readonly chains: { input: string; forward: string };
  private readonly run: CommandRunner;

  constructor(private readonly opts: HostFirewallOptions) {
    for (const [what, port] of [['bus', opts.busPort], ['proxy', opts.proxyPort ?? 1]] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad ${what} port ${port}`);
    }
    this.chains = firewallChainNames(opts.flock);
    this.run = opts.run ?? runCommand;
  }

  /** The rule set, in iptables-restore syntax. Pure, for review and tests. */
  rules(): string {
    const { gatewayIp, busPort, bridgeInterface: br } = this.opts;
    const { input, forward } = this.chains;
    return [
      '*filter',
      // With --noflush, declaring an existing chain flushes it: the rebuild is one atomic commit,
      // so there is no moment where a chain is empty and the host is open.
      `:${input} - [0:0]`,
      `:${forward} - [0:0]`,
      `-A ${input} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      `-A ${input} -d ${gatewayIp}/32 -p tcp -m tcp --dport ${busPort} -j ACCEPT`,
      // The proxy refuses every sandbox without egress rules itself; see egress-proxy.ts.
      ...(this.opts.proxyPort ? [`-A ${input} -d ${gatewayIp}/32 -p tcp -m tcp --dport ${this.opts.proxyPort} -j ACCEPT`] : []),
      `-A ${input} -j DROP`,
      `-A ${forward} -i ${br} ! -o ${br} -j REJECT --reject-with icmp-net-unreachable`,
      `-A ${forward} -o ${br} ! -i ${br} -j REJECT --reject-with icmp-net-unreachable`,
      'COMMIT',
      '',
    ].join('\n');
  }

  private hooks(forwardParent: string): string[][] {
    return [
      ['INPUT', '-i', this.opts.bridgeInterface, '-j', this.chains.input],
      [forwardParent, '-j', this.chains.forward],
    ];
  }

  /** Build or rebuild the guards. Never throws: failure means isolation is not enforced. */
  async apply(): Promise<Isolation> {
    const restore = await this.run('iptables-restore', ['-w', '--noflush'], this.rules());
    if (!ok(restore)) return notEnforced('iptables-restore', restore);
    const dockerUser = await this.run('iptables', ['-w', '-S', 'DOCKER-USER']);
    const forwardParent = ok(dockerUser) ? 'DOCKER-USER' : 'FORWARD';
    for (const [chain, ...rule] of this.hooks(forwardParent)) {
      const check = await this.run('iptables', ['-w', '-C', chain!, ...rule]);
      if (check.error) return notEnforced('iptables', check);
      if (check.code === 0) continue;
      const insert = await this.run('iptables', ['-w', '-I', chain!, '1', ...rule]);
      if (!ok(insert)) return notEnforced(`iptables -I ${chain}`, insert);
    }
    const { gatewayIp, busPort, bridgeInterface } = this.opts;
    return {
      enforced: true,
      detail: `host firewall (${this.chains.input}, ${this.chains.forward}) on ${bridgeInterface}: sandboxes reach only tcp ${gatewayIp}:${busPort}${this.opts.proxyPort ? ` and the egress proxy on ${this.opts.proxyPort}` : ''} and nothing beyond the bridge`,
    };
  }

  /** Undo apply(). Missing pieces are fine. */
  async remove(): Promise<void> {
    for (const [chain, ...rule] of [...this.hooks('DOCKER-USER'), ...this.hooks('FORWARD').slice(1)]) {
      // A duplicated jump (e.g. from a crashed older daemon) must not survive either.
      for (let i = 0; i < 16; i++) {
        const del = await this.run('iptables', ['-w', '-D', chain!, ...rule]);
        if (del.code !== 0) break;
      }
    }
    for (const chain of [this.chains.input, this.chains.forward]) {
      await this.run('iptables', ['-w', '-F', chain]);
      await this.run('iptables', ['-w', '-X', chain]);
    }
  }
}

function ok(r: CommandResult): boolean {
  return !r.error && r.code === 0;
}

function notEnforced(what: string, r: CommandResult): Isolation {
  const why = r.error ?? (r.stderr.trim() || `exit code ${r.code}`);
  return { enforced: false, detail: `host firewall NOT enforced (${what} failed: ${why}); sandboxes can reach every port of this host through the bridge gateway` };
}
