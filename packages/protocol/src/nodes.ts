import * as z from 'zod';
import { InstanceId } from './names.js';

/**
 * Nodes: the hosts of one flock. The control plane's own host is the node named by config
 * `node` (as on a single host); every other host runs a node agent (`aiflock node join`) that
 * reports its capacity and heartbeats over the bus with credentials scoped to its own
 * `node.<name>.>` subjects. Names become subject tokens, so they share the agent names'
 * DNS-label alphabet.
 */
export const NODE_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;
export const NodeName = z.string().regex(NODE_NAME_PATTERN, 'a lower-case name of 1-40 letters, digits and dashes, starting with a letter');

/** Label keys and values as Kubernetes spells them (a prefix/ is allowed in the key). */
const LabelKey = z.string().regex(/^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, 'a label key: letters, digits, dots, dashes, underscores (an optional dns-prefix/)');
const LabelValue = z.string().regex(/^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/, 'a label value: up to 63 letters, digits, dots, dashes, underscores');
export const NodeLabels = z.record(LabelKey, LabelValue);
export type NodeLabels = z.infer<typeof NodeLabels>;

export const NodeGpu = z.object({ index: z.number().int().min(0), name: z.string(), memoryBytes: z.number().int().min(0) });

/** What a node has, as its agent measures it. */
export const NodeCapacity = z.object({
  cpus: z.number().min(0),
  memoryBytes: z.number().int().min(0),
  /** Runtime kinds this node can run sandboxes with (docker, process, vm). */
  runtimes: z.array(z.string()),
  /** Agent images present locally (Docker), so placement can prefer nodes that need no build. */
  images: z.array(z.string()),
  /** From `nvidia-smi` when it exists; empty otherwise. */
  gpus: z.array(NodeGpu),
  /**
   * Its runtime hands GPUs to sandboxes (the runtime's `gpus` capability: docker). A node
   * whose runtime cannot (process, vm), or an agent too old to say, takes no instance asking
   * for GPUs, whatever `gpus` lists.
   */
  gpuSandboxes: z.boolean().default(false),
});
export type NodeCapacity = z.infer<typeof NodeCapacity>;

/** One sandbox as the node's runtime sees it (the runtime port's SandboxInfo, minus the host's handle details). */
export const NodeInstanceReport = z.object({
  id: InstanceId,
  agent: z.string(),
  state: z.enum(['created', 'running', 'paused', 'restarting', 'exited', 'dead']),
  exitCode: z.number().int().nullable(),
  oomKilled: z.boolean(),
  startedAt: z.string().nullable(),
  manifestDigest: z.string(),
  handle: z.string(),
});
export type NodeInstanceReport = z.infer<typeof NodeInstanceReport>;

/** `node.<name>.heartbeat`, published by the node agent every `intervalMs`. */
export const NodeHeartbeat = z.object({
  node: NodeName,
  ts: z.string(),
  intervalMs: z.number().int().min(100),
  capacity: NodeCapacity,
  /** The node agent's version, so mixed versions are visible. */
  version: z.string(),
  /** The instances this node's runtime holds now, with their state: the control plane records their statuses from it. */
  instances: z.array(NodeInstanceReport).default([]),
  /**
   * The address the bus sees this node's connection come from (the server's INFO `client_ip`):
   * its sandboxes' connections are relayed from the same host, so their credentials are bound to it.
   */
  busAddress: z.string().nullable().default(null),
});
export type NodeHeartbeat = z.infer<typeof NodeHeartbeat>;


/**
 * One instance a node must run, as the control plane decided: the sandbox spec the node's own
 * runtime starts, and the instance's bus credentials (issued and renewed by the control plane
 * only; the node issues nothing). The node overrides the bus URL with where its sandboxes reach
 * the bus.
 */
export const NodeDesiredInstance = z.object({
  instanceId: InstanceId,
  agent: z.string(),
  image: z.string(),
  profile: z.enum(['restricted', 'operator']),
  manifestDigest: z.string(),
  env: z.record(z.string(), z.string()),
  resources: z.object({ cpu: z.number(), memoryBytes: z.number(), pids: z.number().int(), tmpBytes: z.number(), workspaceBytes: z.number().optional(), gpus: z.number().int().optional() }),
  secretFiles: z.record(z.string(), z.string()).default({}),
  /** The `.creds` text (null when the bus runs without authentication). */
  creds: z.string().nullable(),
  /**
   * Quarantined by the kill switch: the node pauses the sandbox where it stands and cuts its
   * network (its credentials are already revoked), keeping its files; false again on release.
   */
  frozen: z.boolean().default(false),
});
export type NodeDesiredInstance = z.infer<typeof NodeDesiredInstance>;

/**
 * `nodectl.<name>.desired`: everything node `<name>` must run, whole (not a diff): what runs there
 * and is not listed is stopped. Only that node's credentials may read the subject.
 */
export const NodeDesiredState = z.object({
  node: NodeName,
  ts: z.string(),
  instances: z.array(NodeDesiredInstance),
});
export type NodeDesiredState = z.infer<typeof NodeDesiredState>;

export const NODE_STATUSES = ['pending', 'ready', 'lost'] as const;
export const NodeInfo = z.object({
  name: z.string(),
  /** ready: heartbeating; pending: joined, no heartbeat yet; lost: silent for longer than nodes.lostAfterMs. */
  status: z.enum(NODE_STATUSES),
  /** The control plane's own host. */
  local: z.boolean(),
  labels: NodeLabels,
  cordoned: z.boolean(),
  draining: z.boolean(),
  /** Draining, and nothing of the flock's runs there any more: ready for maintenance (as `kubectl drain` returning). */
  drained: z.boolean(),
  capacity: NodeCapacity.nullable(),
  joinedAt: z.string(),
  lastHeartbeatAt: z.string().nullable(),
  version: z.string().nullable(),
  /** Instances the flock has on this node. */
  instances: z.array(z.object({ id: z.string(), agent: z.string(), status: z.string() })),
  /** What the flock asks of it: cpu, memory and GPUs of those instances' manifests. */
  allocated: z.object({ cpu: z.number(), memoryBytes: z.number().int(), gpus: z.number().int() }),
});
export type NodeInfo = z.infer<typeof NodeInfo>;
export const NodeList = z.object({ nodes: z.array(NodeInfo) });
export const NodeParams = z.object({ name: NodeName }).strict();

export const JoinTokenRequest = z
  .object({
    /** Lifetime, 60 s to 30 days. */
    ttlSeconds: z.number().int().min(60).max(30 * 24 * 3600).default(3600),
    /** Refused after its first join (otherwise usable by several hosts until it expires). */
    singleUse: z.boolean().default(false),
  })
  .strict();
/** The only answer that carries the token; it is stored hashed and never shown again. */
export const IssuedJoinToken = z.object({ id: z.string(), token: z.string(), expiresAt: z.string(), singleUse: z.boolean() });
export type IssuedJoinToken = z.infer<typeof IssuedJoinToken>;

export const NodeJoinRequest = z
  .object({
    token: z.string().min(1),
    name: NodeName,
    labels: NodeLabels.default({}),
  })
  .strict();
export type NodeJoinRequest = z.infer<typeof NodeJoinRequest>;
/** The node's bus credentials (scoped to `node.<name>.>`) and where to reach the bus. */
export const NodeJoined = z.object({
  name: z.string(),
  natsUrl: z.string(),
  creds: z.string().nullable(),
  /** Inbox prefix the node's connection must use: its credentials may read replies only there. */
  inboxPrefix: z.string(),
  heartbeatMs: z.number().int(),
  /** The flock's name: the node's runtime names what it makes on the host after it. */
  flock: z.string(),
});
export type NodeJoined = z.infer<typeof NodeJoined>;

export const NodeLabelRequest = z
  .object({
    /** Labels to set (a value) or remove (null). */
    labels: z.record(LabelKey, LabelValue.nullable()),
  })
  .strict();

/** The bus subjects of one node. */
export const nodeSubjects = {
  heartbeat: (node: string) => `node.${node}.heartbeat`,
  allHeartbeats: 'node.*.heartbeat',
  inbox: (node: string) => `_INBOX_node_${node}`,
  /** Published by the control plane only; a node may read its own and no other. */
  desired: (node: string) => `nodectl.${node}.desired`,
  /** Requests of the control plane only, answered by that node only (node-ops.ts). */
  exec: (node: string) => `nodectl.${node}.exec`,
  stats: (node: string) => `nodectl.${node}.stats`,
  /** One exec session's input, resizes and acks: the control plane publishes, that node alone reads. */
  execInput: (node: string, session: string) => `nodectl.${node}.exec.${session}`,
  /** One exec session's output, exit and acks: that node alone publishes, the control plane reads. */
  execOutput: (node: string, session: string) => `node.${node}.exec.${session}`,
};

/**
 * Everything one node agent may do on the bus: publish its own heartbeats, reports and exec
 * sessions' output, read its own desired state, its own replies and its own exec sessions'
 * input, and answer (once each) the control plane's requests on its own exec and stats subjects.
 */
export function nodePermissions(node: string): { pub: { allow: string[] }; sub: { allow: string[] }; resp: { max: number; ttl: number } } {
  return {
    pub: { allow: [`node.${node}.>`] },
    sub: { allow: [`${nodeSubjects.inbox(node)}.>`, nodeSubjects.desired(node), nodeSubjects.exec(node), nodeSubjects.execInput(node, '*'), nodeSubjects.stats(node)] },
    // One reply per request (an exec session is opened by one; its stream runs on its own subjects).
    resp: { max: 1, ttl: 60 * 1e9 },
  };
}
