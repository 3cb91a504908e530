import { Gauge, type Registry } from 'prom-client';
import type { NodeService } from '@aiflock/core';

/** Nodes in Prometheus: how many by status, and each one's size and what the flock asks of it. */
export function nodeMetrics(registry: Registry, nodes: NodeService): void {
  // One listing serves every gauge of a scrape.
  let cached: { at: number; list: ReturnType<NodeService['list']> } | null = null;
  const each = () => {
    if (!cached || Date.now() - cached.at > 1_000) cached = { at: Date.now(), list: nodes.list() };
    return cached.list;
  };
  new Gauge({
    name: 'aiflock_nodes',
    help: 'Nodes by status (pending, ready, lost)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of ['pending', 'ready', 'lost']) this.set({ status: s }, 0);
      for (const n of await each()) this.inc({ status: n.status });
    },
  });
  const perNode = (name: string, help: string, value: (n: Awaited<ReturnType<typeof each>>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['node'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const n of await each()) this.set({ node: n.record.name }, value(n));
      },
    });
  perNode('aiflock_node_cpus', 'Cores a node reports', (n) => n.record.capacity?.cpus ?? 0);
  perNode('aiflock_node_memory_bytes', 'Memory a node reports', (n) => n.record.capacity?.memoryBytes ?? 0);
  perNode('aiflock_node_allocated_cpus', "Cores the manifests of a node's instances ask for", (n) => n.allocated.cpu);
  perNode('aiflock_node_allocated_memory_bytes', "Memory the manifests of a node's instances ask for", (n) => n.allocated.memoryBytes);
  perNode('aiflock_node_gpus', 'GPUs a node reports that its runtime can hand to sandboxes', (n) => (n.record.capacity?.gpuSandboxes ? n.record.capacity.gpus.length : 0));
  perNode('aiflock_node_allocated_gpus', "GPUs the manifests of a node's instances ask for", (n) => n.allocated.gpus);
  perNode('aiflock_node_instances', 'Instances on a node', (n) => n.instances.length);
  perNode('aiflock_node_cordoned', '1 when a node is cordoned (or draining)', (n) => (n.record.cordoned ? 1 : 0));
}
