/**
 * Where an instance goes, decided over the flock's nodes: the manifest's node name
 * (`placement.node`, the documents' `target_node`), its labels, and resource fit (cpu, memory
 * and GPUs asked for against what the node has left; GPUs only where its runtime gives them).
 * Replicas of one agent spread over the nodes that fit, as a Kubernetes topology spread would.
 * Pure: the caller gathers the nodes and what runs on them; an instance that fits nowhere gets
 * a reason naming every node's objection, so a person reading `agent get` knows what to change.
 */
export interface PlacementNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  cpus: number;
  memoryBytes: number;
  /** GPUs the node reports (0 where there are none). */
  gpus: number;
  /** Its runtime hands GPUs to sandboxes (capabilities.gpus); without it, its GPUs count for nothing. */
  gpuSandboxes: boolean;
  /** Heartbeating: a lost or never-heard node takes nothing. */
  ready: boolean;
  /** Cordoned or draining: keeps what runs, takes nothing new. */
  cordoned: boolean;
  draining: boolean;
  /** cpu, memory and GPUs of the instances already placed there. */
  allocated: { cpu: number; memoryBytes: number; gpus: number };
  /** Instances per agent already there, for spreading. */
  instances: Readonly<Record<string, number>>;
  /** The flock's egress proxy serves sandboxes here (the control plane's node only). */
  egressProxy?: boolean;
}

export interface PlacementRequest {
  agent: string;
  /** `placement.node`. */
  node?: string | undefined;
  /** `placement.labels`: every one must match. */
  labels: Readonly<Record<string, string>>;
  cpu: number;
  memoryBytes: number;
  /** `resources.gpus`; 0 when none are asked for. */
  gpus: number;
  /** The manifest has egress rules: only a node the egress proxy serves will do. */
  egress?: boolean;
}

export type PlacementDecision = { node: string } | { pending: string };

/** Why `node` cannot take `req`, or null when it can. */
export function objection(req: PlacementRequest, node: PlacementNode): string | null {
  if (req.node !== undefined && req.node !== node.name) return `not placement.node`;
  if (!node.ready) return 'not ready (no heartbeat)';
  if (node.draining) return 'draining';
  if (node.cordoned) return 'cordoned';
  if (req.egress && !node.egressProxy) return "has no egress proxy (agents with egress rules run on the control plane's node)";
  for (const [k, v] of Object.entries(req.labels)) {
    if (node.labels[k] !== v) return `lacks label ${k}=${v}`;
  }
  const freeCpu = node.cpus - node.allocated.cpu;
  if (req.cpu > freeCpu + 1e-9) return `has ${round(Math.max(0, freeCpu))} of ${round(node.cpus)} cpus free, ${round(req.cpu)} asked`;
  const freeMem = node.memoryBytes - node.allocated.memoryBytes;
  if (req.memoryBytes > freeMem) return `has ${mib(Math.max(0, freeMem))} of ${mib(node.memoryBytes)} memory free, ${mib(req.memoryBytes)} asked`;
  if (req.gpus > 0 && !node.gpuSandboxes) return `runs its sandboxes with a runtime that cannot give them GPUs (docker can), ${req.gpus} asked`;
  const freeGpus = node.gpus - node.allocated.gpus;
  if (req.gpus > freeGpus) return node.gpus === 0 ? `has no GPUs, ${req.gpus} asked` : `has ${Math.max(0, freeGpus)} of ${node.gpus} GPUs free, ${req.gpus} asked`;
  return null;
}

/**
 * One instance: among the nodes that fit, the one with the fewest instances of this agent
 * (spread), then the most free memory, then by name (stable).
 */
export function placeInstance(req: PlacementRequest, nodes: readonly PlacementNode[]): PlacementDecision {
  if (req.node !== undefined && !nodes.some((n) => n.name === req.node)) {
    return { pending: `placement.node "${req.node}" is not a node of this flock (nodes: ${nodes.map((n) => n.name).join(', ') || 'none'})` };
  }
  const fits = nodes.filter((n) => objection(req, n) === null);
  if (fits.length === 0) {
    const why = nodes
      .map((n) => [n, objection(req, n)] as const)
      .filter(([n, o]) => o !== null && (req.node === undefined || n.name === req.node))
      .map(([n, o]) => `node "${n.name}" ${o}`);
    return { pending: `fits no node: ${why.join('; ') || 'the flock has no nodes'}` };
  }
  const best = [...fits].sort(
    (a, b) =>
      (a.instances[req.agent] ?? 0) - (b.instances[req.agent] ?? 0) ||
      b.memoryBytes - b.allocated.memoryBytes - (a.memoryBytes - a.allocated.memoryBytes) ||
      a.name.localeCompare(b.name),
  )[0]!;
  return { node: best.name };
}

/**
 * Several instances in a row: each placement counts against its node before the next is
 * decided, so five replicas spread and a full node stops taking. Returns the nodes as they
 * would be afterwards too.
 */
export function placeMany(reqs: readonly PlacementRequest[], nodes: readonly PlacementNode[]): { decisions: PlacementDecision[]; nodes: PlacementNode[] } {
  let state = nodes.map((n) => ({ ...n, allocated: { ...n.allocated }, instances: { ...n.instances } }));
  const decisions = reqs.map((req) => {
    const d = placeInstance(req, state);
    if ('node' in d) state = state.map((n) => (n.name === d.node ? withInstance(n, req) : n));
    return d;
  });
  return { decisions, nodes: state };
}

function withInstance(n: PlacementNode, req: PlacementRequest): PlacementNode {
  return {
    ...n,
    allocated: { cpu: n.allocated.cpu + req.cpu, memoryBytes: n.allocated.memoryBytes + req.memoryBytes, gpus: n.allocated.gpus + req.gpus },
    instances: { ...n.instances, [req.agent]: (n.instances[req.agent] ?? 0) + 1 },
  };
}

const round = (x: number) => Math.round(x * 100) / 100;
const mib = (b: number) => `${Math.round(b / 1024 ** 2)} MiB`;
