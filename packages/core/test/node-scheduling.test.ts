import { describe, expect, it } from 'vitest';
import { NodeReports, drainPlan, placeMany, planReconcile, remoteSandboxes, type InstanceRecord, type SandboxInfo } from '../src/index.js';

const sandbox = (instanceId: string, node: string, over: Partial<SandboxInfo> = {}): SandboxInfo => ({
  instanceId,
  agent: instanceId.slice(0, instanceId.lastIndexOf('-')),
  handle: `h-${instanceId}`,
  state: 'running',
  exitCode: null,
  oomKilled: false,
  startedAt: '2026-01-01T00:00:00Z',
  manifestDigest: 'sha256:a',
  node,
  ...over,
});

const record = (id: string, node: string, over: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id,
  agent: id.slice(0, id.lastIndexOf('-')),
  status: 'running',
  handle: null,
  node,
  startedAt: '2026-01-01T00:00:00Z',
  lastHeartbeatAt: null,
  exitCode: null,
  oomKilled: false,
  ...over,
});

describe('instances on joined nodes', () => {
  const reports = new NodeReports();
  reports.set('b', { instances: [sandbox('echo-0000000b', 'b', { state: 'exited', exitCode: 1 })], busAddress: '198.18.0.2', at: new Date() });

  it('are as their node reported them, running until it does, and lost with their node', () => {
    const { actual, lost } = remoteSandboxes({
      records: [record('echo-0000000a', 'a'), record('echo-0000000b', 'b'), record('echo-0000000c', 'c'), record('echo-0000000d', 'gone'), record('echo-00000001', 'cp'), record('echo-0000000e', 'b', { status: 'exited' })],
      local: 'cp',
      nodes: [
        { name: 'a', status: 'ready' },
        { name: 'b', status: 'ready' },
        { name: 'c', status: 'lost' },
      ],
      report: (n) => reports.get(n),
      digestOf: () => 'sha256:a',
    });
    expect(actual.map((s) => [s.instanceId, s.node, s.state, s.address ?? null])).toEqual([
      ['echo-0000000a', 'a', 'running', null],
      ['echo-0000000b', 'b', 'exited', '198.18.0.2'],
    ]);
    expect(lost).toEqual([
      { instanceId: 'echo-0000000c', agent: 'echo', reason: 'node c is lost' },
      { instanceId: 'echo-0000000d', agent: 'echo', reason: 'node gone was removed' },
    ]);
  });

  it('say when what a node runs changed, not on every heartbeat', () => {
    const r = new NodeReports();
    const one = { instances: [sandbox('echo-00000001', 'a')], busAddress: '10.0.0.2', at: new Date() };
    expect(r.set('a', one)).toBe(true);
    expect(r.set('a', { ...one, at: new Date() })).toBe(false);
    expect(r.set('a', { ...one, instances: [sandbox('echo-00000001', 'a', { state: 'exited' })] })).toBe(true);
  });
});

describe('draining a node', () => {
  const desired = [{ name: 'echo', digest: 'sha256:a', replicas: 2 }];
  const drained = new Set(['a']);

  it('holds its instances out of the plan, so replacements are started elsewhere first', () => {
    const actual = [sandbox('echo-00000001', 'a'), sandbox('echo-00000002', 'b')];
    const d = drainPlan(desired, actual, drained, () => true);
    expect([...d.held]).toEqual(['echo-00000001']);
    expect(d.remove).toEqual([]);
    expect(planReconcile(desired, actual.filter((s) => !d.held.has(s.instanceId))).start).toEqual([{ agent: 'echo', count: 1 }]);
  });

  it('tells the old one to stop once its replacement answers, and not before', () => {
    const actual = [sandbox('echo-00000001', 'a'), sandbox('echo-00000002', 'b'), sandbox('echo-00000003', 'c')];
    expect(drainPlan(desired, actual, drained, (s) => s.instanceId !== 'echo-00000003').stop).toEqual([]);
    const d = drainPlan(desired, actual, drained, () => true);
    expect(d.stop).toEqual([{ instanceId: 'echo-00000001', agent: 'echo', reason: 'node a is draining' }]);
    expect(d.remove).toEqual([]);
  });

  it('removes a stopping one once it has exited or its grace is over, holding it until then', () => {
    const stopping = new Map([['echo-00000001', 10_000]]);
    const running = [sandbox('echo-00000001', 'a'), sandbox('echo-00000002', 'b'), sandbox('echo-00000003', 'c')];
    const finishing = drainPlan(desired, running, drained, () => true, stopping, 5_000);
    expect([[...finishing.held], finishing.stop, finishing.remove]).toEqual([['echo-00000001'], [], []]);
    const gone = { instanceId: 'echo-00000001', agent: 'echo', reason: 'node a is draining' };
    expect(drainPlan(desired, running, drained, () => true, stopping, 10_000).remove).toEqual([gone]);
    const exited = [sandbox('echo-00000001', 'a', { state: 'exited', exitCode: 0 }), ...running.slice(1)];
    expect(drainPlan(desired, exited, drained, () => true, stopping, 5_000).remove).toEqual([gone]);
  });
});

describe('placement with the egress proxy', () => {
  it('puts an agent with egress rules only where the proxy serves it', () => {
    const node = (name: string, egressProxy: boolean) => ({ name, labels: {}, cpus: 8, memoryBytes: 16 * 1024 ** 3, gpus: 0, gpuSandboxes: false, ready: true, cordoned: false, draining: false, allocated: { cpu: 0, memoryBytes: 0, gpus: 0 }, instances: {}, egressProxy });
    const req = { agent: 'web', labels: {}, cpu: 1, memoryBytes: 1024 ** 3, gpus: 0, egress: true };
    expect(placeMany([req, req], [node('a', false), node('cp', true)]).decisions).toEqual([{ node: 'cp' }, { node: 'cp' }]);
    expect(placeMany([req], [node('a', false)]).decisions).toEqual([{ pending: `fits no node: node "a" has no egress proxy (agents with egress rules run on the control plane's node)` }]);
  });
});
