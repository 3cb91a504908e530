import { egressRulesOf, imageFor, parseEgressRules, specialPurposeCidrs, type Manifest, type ManifestRefusal, type SandboxCapacity } from '@aiflock/core';
import type { Config } from './config.js';

/**
 * What this flock refuses in a manifest that the manifest schema alone cannot know: limits no
 * node can give (they would be accepted and then never start, or starve the host), an image
 * that is not on the allow-list (any image on the host would otherwise do), and CIDR egress
 * rules opening private, loopback or link-local ranges (which only an admin may deploy, and
 * only where `egress.privateCidrs` is `admin`), a placement on a node this flock does not have, and
 * GPUs the node cannot give. The first refusal, with the field and value.
 */
export function deployAdmission(
  config: Config,
  capacity: () => Promise<SandboxCapacity>,
  /** What the flock's runtime offers beyond every runtime's basics (its capabilities). */
  runtime: { jobSandboxes?: boolean; warmPool?: boolean; gpus?: boolean } = {},
  /** The flock's node names (the control plane's own and every joined one). */
  nodeNames: () => Promise<string[]> = async () => [config.node],
  /** GPUs the control plane's own node reports (nvidia-smi, as every node reports them). */
  localGpus: () => Promise<number> = async () => 0,
): (manifest: Manifest, by?: { admin: boolean }) => Promise<ManifestRefusal | null> {
  const images = allowedImages(config);
  return async (m, by) => {
    if (m.lifecycle === 'job' && !runtime.jobSandboxes) {
      return { field: 'lifecycle', value: 'job', message: `lifecycle: job runs each task in a fresh sandbox, which only the vm runtime offers (runtime.kind: vm); this flock runs ${config.runtime.kind}: leave lifecycle out for long-lived instances` };
    }
    const warm = m.scaling?.warm ?? 0;
    if (warm > 0 && !runtime.warmPool) {
      return { field: 'scaling.warm', value: warm, message: `scaling.warm keeps started sandboxes waiting for new instances, which the ${config.runtime.kind} runtime does not offer (the docker runtime does): leave scaling.warm out` };
    }
    if (warm > 0 && m.profile === 'operator') {
      return { field: 'scaling.warm', value: warm, message: 'scaling.warm is for the restricted profile: operator sandboxes start on the operator engine, which keeps no warm ones; leave scaling.warm out' };
    }
    const gpus = m.resources.gpus ?? 0;
    if (warm > 0 && gpus > 0) {
      return { field: 'scaling.warm', value: warm, message: 'scaling.warm sandboxes start before an agent claims them, and Docker cannot add GPUs to a started container: leave scaling.warm out for an agent with resources.gpus' };
    }
    // `image: workbench` is an alias of the configured workbench image: check what would run.
    const image = m.image === undefined ? undefined : imageFor(m.image, { defaultImage: config.runtime.image, workbenchImage: config.runtime.workbenchImage });
    if (image !== undefined && !images.includes(image)) {
      return { field: 'image', value: m.image, message: `image "${m.image}" is not one this flock runs (runtime.allowedImages: ${images.join(', ')}, or "workbench"); leave image out for the agent image` };
    }
    const special = specialPurposeCidrs(parseEgressRules(egressRulesOf(m)));
    if (special.length > 0 && !(by?.admin && config.egress.privateCidrs === 'admin')) {
      const who = config.egress.privateCidrs === 'admin' ? 'only an admin may deploy it' : 'this flock allows no one to (egress.privateCidrs: never)';
      const first = special[0]!;
      return { field: 'network.egress', value: first.rule, message: `egress rule "${first.rule}" opens a ${first.range} range: ${who}` };
    }
    const r = m.resources;
    if (r.pids > config.runtime.maxPids) return { field: 'resources.pids', value: r.pids, message: `resources.pids ${r.pids} is above this flock's cap of ${config.runtime.maxPids} (runtime.maxPids)` };
    // /tmp and /run are RAM-backed: what is written there counts against the memory limit.
    if (r.tmp + RUN_TMPFS_BYTES > r.memory) {
      return { field: 'resources.tmp', value: r.tmp, message: `resources.tmp (${mib(r.tmp)}) and /run (${mib(RUN_TMPFS_BYTES)}) are RAM-backed and together exceed resources.memory (${mib(r.memory)}); lower tmp or raise memory` };
    }
    if (r.workspace !== undefined && r.workspace > config.runtime.maxWorkspace) {
      return { field: 'resources.workspace', value: r.workspace, message: `resources.workspace (${mib(r.workspace)}) is above this flock's cap of ${mib(config.runtime.maxWorkspace)} (runtime.maxWorkspace)` };
    }
    const names = await nodeNames();
    const placed = placementRefusal(m, names);
    if (placed) return placed;
    // The control plane's node must be able to give it, unless another node may run it (the
    // planner then weighs each node's own capacity, and says why when none fits).
    const elsewhere = m.placement?.node !== undefined ? m.placement.node !== config.node : names.length > 1;
    if (elsewhere) return null;
    const node = await capacity();
    if (r.memory > node.memoryBytes) return { field: 'resources.memory', value: r.memory, message: `resources.memory (${mib(r.memory)}) is more than this node has (${mib(node.memoryBytes)})` };
    if (r.cpu > node.cpus) return { field: 'resources.cpu', value: r.cpu, message: `resources.cpu ${r.cpu} is more than this node's ${node.cpus} cores` };
    return gpus > 0 ? gpuRefusal(gpus, config.runtime.kind, runtime.gpus === true, await localGpus()) : null;
  };
}

/**
 * A manifest pinned to a node this flock does not have is a typo or a host not joined yet: it is
 * refused, naming the nodes there are. Labels and resource fit are the planner's to weigh
 * (they change as nodes join and are labelled): an instance that fits nowhere waits, with why.
 */
function placementRefusal(m: Manifest, nodes: string[]): ManifestRefusal | null {
  const want = m.placement?.node;
  if (want === undefined || nodes.includes(want)) return null;
  return {
    field: 'placement.node',
    value: want,
    message: `placement.node "${want}" is not a node of this flock (nodes: ${nodes.join(', ')}); join the host first (aiflock node join, docs/scale-out.md) or leave placement out`,
  };
}

/**
 * GPUs on the control plane's node: its runtime must hand them to sandboxes (capabilities.gpus)
 * and the node must report that many. Otherwise the instance would never start (Docker cannot
 * find the device) or would start without them.
 */
function gpuRefusal(gpus: number, kind: string, runtimeGives: boolean, have: number): ManifestRefusal | null {
  if (!runtimeGives) {
    return {
      field: 'resources.gpus',
      value: gpus,
      message: `resources.gpus asks for ${gpus} GPU(s), which the ${kind} runtime cannot give (the docker runtime can, with the NVIDIA Container Toolkit): leave resources.gpus out, or place the agent on a joined GPU node that runs docker (docs/scale-out.md)`,
    };
  }
  if (gpus > have) return { field: 'resources.gpus', value: gpus, message: `resources.gpus ${gpus} is more than the ${have} GPU(s) this node reports (nvidia-smi)` };
  return null;
}

/** /run is a 16 MiB tmpfs in every sandbox (container-spec.ts, operator-spec.ts). */
const RUN_TMPFS_BYTES = 16 * 1024 ** 2;

const mib = (bytes: number) => `${Math.round(bytes / 1024 ** 2)} MiB`;

/** The configured allow-list, or the images the flock itself names. */
export function allowedImages(config: Config): string[] {
  return config.runtime.allowedImages ?? [config.runtime.image, config.runtime.workbenchImage];
}
