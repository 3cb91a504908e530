import type { NodeStatus } from './node-status.js';
import type { NodeReport } from './node-reports.js';
import type { SandboxInfo } from '../ports/sandbox-runtime.js';
import type { InstanceRecord } from '../ports/store.js';

export interface RemoteNodeState {
  name: string;
  status: NodeStatus;
}

/**
 * The instances placed on joined nodes, as sandboxes the reconcile plan can weigh with the
 * local runtime's. Pure. An instance its node reported is as reported; one it has not reported
 * yet (just placed, or the node is starting it) counts as running, so the heartbeat check
 * replaces it if it never speaks; one on a lost or removed node is in `lost`, to be replaced.
 */
export function remoteSandboxes(input: {
  records: readonly InstanceRecord[];
  local: string;
  nodes: readonly RemoteNodeState[];
  report: (node: string) => NodeReport | undefined;
  /** The manifest digest an instance not yet reported was started with (or its deployment's). */
  digestOf: (record: InstanceRecord) => string;
}): { actual: SandboxInfo[]; lost: { instanceId: string; agent: string; reason: string }[] } {
  const actual: SandboxInfo[] = [];
  const lost: { instanceId: string; agent: string; reason: string }[] = [];
  const byName = new Map(input.nodes.map((n) => [n.name, n]));
  for (const r of input.records) {
    if (r.node === input.local || r.status === 'exited') continue;
    const node = byName.get(r.node);
    if (!node || node.status === 'lost') {
      lost.push({ instanceId: r.id, agent: r.agent, reason: node ? `node ${r.node} is lost` : `node ${r.node} was removed` });
      continue;
    }
    const report = input.report(r.node);
    const seen = report?.instances.find((i) => i.instanceId === r.id);
    actual.push(
      seen
        ? { ...seen, node: r.node, address: report?.busAddress ?? null }
        : {
            instanceId: r.id,
            agent: r.agent,
            handle: r.handle ?? '',
            state: 'running',
            exitCode: null,
            oomKilled: false,
            startedAt: r.startedAt,
            manifestDigest: input.digestOf(r),
            node: r.node,
            address: report?.busAddress ?? null,
          },
    );
  }
  return { actual, lost };
}
