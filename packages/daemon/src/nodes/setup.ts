import { NodeService, type Clock, type Store } from '@aiflock/core';
import { NodeHeartbeat } from '@aiflock/protocol';
import type { BusSetup } from '../bus-setup.js';
import type { Config } from '../config.js';
import type { logFn } from '../logger.js';
import type { RuntimeSetup } from '../runtime-setup.js';
import type { BusFleet } from './fleet.js';
import { hostCapacity } from './host-capacity.js';
import { LatestPerKey } from './latest-per-key.js';

/**
 * The flock's nodes: the control plane's own host, and every host that joined. Heartbeats
 * arrive on `node.<name>.heartbeat`; the subject names the node, and its credentials allow
 * it no other, so a body claiming another node's name is refused, not believed.
 */
export async function setupNodes(
  config: Config,
  deps: { store: Store; clock: Clock; bus: BusSetup; runtimes: RuntimeSetup; fleet: BusFleet; poke: () => void; log: ReturnType<typeof logFn> },
): Promise<NodeService> {
  const { bus, runtimes, log } = deps;
  const jwt = bus.busAuth?.credentials ?? null;
  const nodes = new NodeService({
    store: deps.store,
    clock: deps.clock,
    local: {
      name: config.node,
      labels: config.nodeLabels,
      capacity: async () => hostCapacity({ runtimes: [config.runtime.kind], measured: await runtimes.runtime.capacity?.(), gpuSandboxes: runtimes.runtime.capabilities.gpus }),
    },
    credentials: jwt ? { issue: (node) => jwt.nodeCreds(node), revoke: (id, node) => jwt.revokeNodeCreds(id, node) } : null,
    lostAfterMs: config.nodes.lostAfterMs,
    log,
  });
  await nodes.ensureLocal();
  const record = async (node: string, beat: NodeHeartbeat): Promise<void> => {
    if (!(await nodes.heartbeat(node, beat))) return log('warn', `a heartbeat from node ${node}, which is not a node of this flock (removed?)`, { node });
    const instances = beat.instances.map(({ id, ...i }) => ({ ...i, instanceId: id, node }));
    // What runs there changed (an instance started, exited, went): the reconciler looks now.
    if (deps.fleet.reports.set(node, { instances, busAddress: beat.busAddress, at: deps.clock.now() })) deps.poke();
    await deps.fleet.resend(node);
  };
  // A heartbeat counts for liveness as it arrives; storing it and answering with the desired
  // state follow, per node, newest first. Awaiting the store here (one node's beat after
  // another's) let a burst of task writes age every node's heartbeats until live nodes were
  // judged lost and their instances moved.
  const storing = new LatestPerKey();
  bus.bus.onNodeHeartbeat?.(async (node, payload) => {
    const beat = NodeHeartbeat.safeParse(payload);
    if (!beat.success) return log('warn', `node ${node} sent a heartbeat that is not one: ${beat.error.issues[0]?.message ?? ''}`, { node });
    if (beat.data.node !== node) return log('warn', `a heartbeat on node ${node}'s subject claims to be node "${beat.data.node}": refused`, { node });
    nodes.noteArrival(node);
    storing.offer(node, () => record(node, beat.data).catch((err: unknown) => log('warn', `node heartbeat from ${node} not recorded: ${String(err)}`, { node })));
  });
  deps.fleet.attach(nodes);
  return nodes;
}
