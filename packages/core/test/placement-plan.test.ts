import { describe, expect, it } from 'vitest';
import { nodeStatus, objection, placeInstance, placeMany, type PlacementNode, type PlacementRequest } from '../src/index.js';

const GiB = 1024 ** 3;
const node = (name: string, over: Partial<PlacementNode> = {}): PlacementNode => ({
  name,
  labels: {},
  cpus: 4,
  memoryBytes: 8 * GiB,
  gpus: 0,
  gpuSandboxes: true,
  ready: true,
  cordoned: false,
  draining: false,
  allocated: { cpu: 0, memoryBytes: 0, gpus: 0 },
  instances: {},
  ...over,
});
const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({ agent: 'w', labels: {}, cpu: 1, memoryBytes: GiB, gpus: 0, ...over });

describe('placement', () => {
  it('puts an instance asking for GPUs only on a node with that many free, counting those placed', () => {
    const nodes = [node('cpu-only'), node('dgx', { gpus: 2 })];
    expect(placeInstance(req({ gpus: 1 }), nodes)).toEqual({ node: 'dgx' });
    expect(objection(req({ gpus: 1 }), node('cpu-only'))).toBe('has no GPUs, 1 asked');
    expect(objection(req({ gpus: 2 }), node('dgx', { gpus: 2, allocated: { cpu: 0, memoryBytes: 0, gpus: 1 } }))).toBe('has 1 of 2 GPUs free, 2 asked');
    const { decisions } = placeMany([req({ gpus: 1 }), req({ gpus: 1 }), req({ gpus: 1 })], nodes);
    expect(decisions).toEqual([{ node: 'dgx' }, { node: 'dgx' }, { pending: 'fits no node: node "cpu-only" has no GPUs, 1 asked; node "dgx" has 0 of 2 GPUs free, 1 asked' }]);
    // Asking for none, a GPU node is as good as any.
    expect(placeMany([req(), req()], nodes).decisions).toEqual([{ node: 'cpu-only' }, { node: 'dgx' }]);
  });

  it('counts no GPUs on a node whose runtime cannot hand them to sandboxes, and says so', () => {
    const bwrap = node('gpu-bwrap', { gpus: 4, gpuSandboxes: false });
    expect(objection(req({ gpus: 1 }), bwrap)).toBe('runs its sandboxes with a runtime that cannot give them GPUs (docker can), 1 asked');
    expect(placeInstance(req({ gpus: 1 }), [bwrap, node('dgx', { gpus: 1 })])).toEqual({ node: 'dgx' });
    expect(placeInstance(req({ gpus: 1, node: 'gpu-bwrap' }), [bwrap, node('dgx', { gpus: 1 })])).toEqual({
      pending: 'fits no node: node "gpu-bwrap" runs its sandboxes with a runtime that cannot give them GPUs (docker can), 1 asked',
    });
    // Asking for none, such a node takes the instance as any other would.
    expect(objection(req(), bwrap)).toBeNull();
  });

  it('puts an instance pinned to a node on that node, and nowhere else', () => {
    const nodes = [node('a'), node('b'), node('c')];
    expect(placeInstance(req({ node: 'b' }), nodes)).toEqual({ node: 'b' });
    expect(placeInstance(req({ node: 'b' }), [node('a'), node('b', { cordoned: true })])).toEqual({ pending: 'fits no node: node "b" cordoned' });
  });

  it('leaves an instance pinned to an unknown node pending, naming the nodes there are', () => {
    expect(placeInstance(req({ node: 'gpu-9' }), [node('a'), node('b')])).toEqual({ pending: 'placement.node "gpu-9" is not a node of this flock (nodes: a, b)' });
  });

  it('honours every label', () => {
    const nodes = [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'y', disk: 'ssd' } })];
    expect(placeInstance(req({ labels: { zone: 'y' } }), nodes)).toEqual({ node: 'b' });
    expect(placeInstance(req({ labels: { zone: 'y', disk: 'hdd' } }), nodes)).toEqual({
      pending: 'fits no node: node "a" lacks label zone=y; node "b" lacks label disk=hdd',
    });
  });

  it('spreads replicas over the nodes that fit', () => {
    const { decisions } = placeMany(Array.from({ length: 5 }, () => req()), [node('a'), node('b'), node('c')]);
    const counts = new Map<string, number>();
    for (const d of decisions) if ('node' in d) counts.set(d.node, (counts.get(d.node) ?? 0) + 1);
    expect([...counts.values()].sort()).toEqual([1, 2, 2]);
  });

  it('counts what is already there when spreading', () => {
    const nodes = [node('a', { instances: { w: 2 } }), node('b', { instances: { w: 1 } }), node('c', { instances: { other: 5 } })];
    expect(placeInstance(req(), nodes)).toEqual({ node: 'c' });
  });

  it('checks cpu and memory against what is left, and stops a full node taking more', () => {
    const busy = node('a', { cpus: 2, allocated: { cpu: 1.5, memoryBytes: 0, gpus: 0 } });
    expect(objection(req({ cpu: 1 }), busy)).toBe('has 0.5 of 2 cpus free, 1 asked');
    expect(objection(req({ memoryBytes: 9 * GiB }), node('b'))).toBe('has 8192 MiB of 8192 MiB memory free, 9216 MiB asked');
    const { decisions } = placeMany([req({ cpu: 2 }), req({ cpu: 2 }), req({ cpu: 2 })], [node('a')]);
    expect(decisions).toEqual([{ node: 'a' }, { node: 'a' }, { pending: 'fits no node: node "a" has 0 of 4 cpus free, 2 asked' }]);
  });

  it('gives nothing new to lost, cordoned or draining nodes', () => {
    const nodes = [node('a', { ready: false }), node('b', { cordoned: true }), node('c', { draining: true })];
    expect(placeInstance(req(), nodes)).toEqual({ pending: 'fits no node: node "a" not ready (no heartbeat); node "b" cordoned; node "c" draining' });
    expect(placeInstance(req(), [...nodes, node('d')])).toEqual({ node: 'd' });
  });

  it('says so when the flock has no nodes', () => {
    expect(placeInstance(req(), [])).toEqual({ pending: 'fits no node: the flock has no nodes' });
  });
});

describe('node status', () => {
  const now = new Date('2026-12-07T00:00:10Z');
  it('is pending before the first heartbeat, ready while they come, lost after the grace period', () => {
    expect(nodeStatus(null, now, 5000)).toBe('pending');
    expect(nodeStatus('2026-12-07T00:00:06Z', now, 5000)).toBe('ready');
    expect(nodeStatus('2026-12-07T00:00:04Z', now, 5000)).toBe('lost');
  });

  it('counts silence only from when the control plane hears heartbeats (after its restart)', () => {
    expect(nodeStatus('2026-12-07T00:00:01Z', now, 5000, new Date('2026-12-07T00:00:08Z'))).toBe('ready');
    expect(nodeStatus('2026-12-07T00:00:01Z', now, 5000, new Date('2026-12-07T00:00:04Z'))).toBe('lost');
  });
});
