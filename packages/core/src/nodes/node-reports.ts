import type { SandboxInfo } from '../ports/sandbox-runtime.js';

/** What one node last said it runs, and from where its connection reaches the bus. */
export interface NodeReport {
  instances: SandboxInfo[];
  /** The address the bus sees the node (and its relayed sandboxes) connect from; null when unknown. */
  busAddress: string | null;
  at: Date;
}

/**
 * The latest report of each joined node, from its heartbeats. Kept in memory: a restarted
 * control plane knows again within one heartbeat, and until then goes by the instance records.
 */
export class NodeReports {
  private readonly reports = new Map<string, NodeReport>();

  /** Records a report; true when what runs there changed (an instance came, went or changed state). */
  set(node: string, report: NodeReport): boolean {
    const before = this.reports.get(node);
    this.reports.set(node, report);
    return before === undefined || fingerprint(before) !== fingerprint(report);
  }

  get(node: string): NodeReport | undefined {
    return this.reports.get(node);
  }

  forget(node: string): void {
    this.reports.delete(node);
  }
}

const fingerprint = (r: NodeReport) =>
  `${r.busAddress ?? ''}|${r.instances
    .map((i) => `${i.instanceId}:${i.state}:${i.manifestDigest}`)
    .sort()
    .join(',')}`;
