import type { NodeView } from '../services/nodes.js';
import type { NodeReports } from './node-reports.js';
import type { PlacementNode, PlacementRequest } from './placement-plan.js';
import type { Manifest } from '../manifest/schema.js';
import { egressRulesOf } from '../manifest/agent-loop-env.js';
import type { SandboxSpec } from '../ports/sandbox-runtime.js';

/** One instance a joined node must run: its spec, and where the control plane keeps its bus credentials. */
export interface RemoteInstance {
  spec: SandboxSpec;
  /** The credentials directory `BusCredentials.issue` gave (null: the bus has no authentication). */
  credentialsDir: string | null;
  /** Quarantined: the node keeps it, paused and cut off, until released or removed. */
  frozen?: boolean;
}

/**
 * The flock's joined hosts as the reconciler sees them: their views (status, labels, capacity,
 * cordon), their last reports, and the channel their desired state goes out on. Absent on a
 * flock that runs on one host only.
 */
export interface Fleet {
  nodes(): Promise<NodeView[]>;
  reports: NodeReports;
  /** The whole set node `node` must run (what runs there and is not listed is stopped). */
  publish(node: string, instances: RemoteInstance[]): Promise<void>;
}

/** The planner's view of the nodes. The egress proxy serves the control plane's node only. */
export function placementNodes(views: readonly NodeView[]): PlacementNode[] {
  return views.map((v) => {
    const instances: Record<string, number> = {};
    for (const i of v.instances) instances[i.agent] = (instances[i.agent] ?? 0) + 1;
    return {
      name: v.record.name,
      labels: v.record.labels,
      cpus: v.record.capacity?.cpus ?? 0,
      memoryBytes: v.record.capacity?.memoryBytes ?? 0,
      gpus: v.record.capacity?.gpus.length ?? 0,
      gpuSandboxes: v.record.capacity?.gpuSandboxes ?? false,
      ready: v.status === 'ready' && v.record.capacity !== null,
      cordoned: v.record.cordoned,
      draining: v.record.draining,
      allocated: v.allocated,
      instances,
      egressProxy: v.local,
    };
  });
}

export function placementRequest(agent: string, m: Manifest): PlacementRequest {
  return {
    agent,
    ...(m.placement?.node !== undefined ? { node: m.placement.node } : {}),
    labels: m.placement?.labels ?? {},
    cpu: m.resources.cpu,
    memoryBytes: m.resources.memory,
    gpus: m.resources.gpus ?? 0,
    egress: egressRulesOf(m).length > 0,
  };
}
