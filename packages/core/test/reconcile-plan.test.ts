import { describe, expect, it } from 'vitest';
import { JOB_ENDED, agentStatus, instanceStatus, planReconcile, type SandboxInfo } from '../src/index.js';

const sandbox = (instanceId: string, over: Partial<SandboxInfo> = {}): SandboxInfo => ({
  instanceId,
  agent: instanceId.slice(0, instanceId.lastIndexOf('-')),
  handle: `c-${instanceId}`,
  state: 'running',
  exitCode: null,
  oomKilled: false,
  startedAt: '2026-01-01T00:00:00Z',
  manifestDigest: 'sha256:a',
  node: 'n1',
  ...over,
});

describe('reconcile plan, lifecycle: job (a sandbox per task)', () => {
  const job = (replicas: number, pending: number, busy: string[] = [], done: string[] = []) => ({ name: 'batch', digest: 'sha256:a', replicas, jobs: { pending, busy: new Set(busy), done: new Set(done) } });
  const at = (s: number) => ({ startedAt: `2026-01-01T00:00:0${s}Z` });

  it('starts nothing without tasks, one sandbox per queued task, and never more than replicas at once', () => {
    expect(planReconcile([job(2, 0)], [])).toEqual({ start: [], remove: [] });
    expect(planReconcile([job(3, 2)], []).start).toEqual([{ agent: 'batch', count: 2 }]);
    expect(planReconcile([job(2, 5)], []).start).toEqual([{ agent: 'batch', count: 2 }]);
    // One busy, one booting: with 3 tasks open and room for 2, nothing more.
    expect(planReconcile([job(2, 3, ['batch-00000001'])], [sandbox('batch-00000001'), sandbox('batch-00000002')])).toEqual({ start: [], remove: [] });
  });

  it('tears down a sandbox whose task ended, and one that stopped after its task, as a job ended (not a death)', () => {
    const plan = planReconcile([job(2, 1, [], ['batch-00000001'])], [sandbox('batch-00000001'), sandbox('batch-00000002', { state: 'exited', exitCode: 0 })]);
    expect(plan.remove).toEqual([
      { instanceId: 'batch-00000001', agent: 'batch', reason: JOB_ENDED },
      { instanceId: 'batch-00000002', agent: 'batch', reason: JOB_ENDED },
    ]);
    // The open task gets a fresh sandbox.
    expect(plan.start).toEqual([{ agent: 'batch', count: 1 }]);
    // A crash is still a crash.
    expect(planReconcile([job(1, 0)], [sandbox('batch-00000003', { state: 'exited', exitCode: 1 })]).remove[0]!.reason).toBe('instance exited');
  });

  it('removes idle sandboxes no task is left for (newest first), never a busy one', () => {
    const plan = planReconcile([job(3, 1, ['batch-00000001'])], [sandbox('batch-00000001', at(3)), sandbox('batch-00000002', at(1)), sandbox('batch-00000003', at(2))]);
    expect(plan.start).toEqual([]);
    expect(plan.remove).toEqual([
      { instanceId: 'batch-00000003', agent: 'batch', reason: 'no job left for it' },
      { instanceId: 'batch-00000002', agent: 'batch', reason: 'no job left for it' },
    ]);
    // Scaled to zero while a task runs: the busy sandbox finishes its task.
    expect(planReconcile([job(0, 1, ['batch-00000001'])], [sandbox('batch-00000001')]).remove).toEqual([]);
  });
});

describe('reconcile plan', () => {
  it('starts what is missing', () => {
    expect(planReconcile([{ name: 'echo', digest: 'sha256:a', replicas: 3 }], [sandbox('echo-00000001')])).toEqual({
      start: [{ agent: 'echo', count: 2 }],
      remove: [],
    });
  });

  it('scales down by removing the newest instances', () => {
    const plan = planReconcile(
      [{ name: 'echo', digest: 'sha256:a', replicas: 1 }],
      [sandbox('echo-00000001', { startedAt: '2026-01-01T00:00:02Z' }), sandbox('echo-00000002', { startedAt: '2026-01-01T00:00:01Z' })],
    );
    expect(plan.start).toEqual([]);
    expect(plan.remove).toEqual([{ instanceId: 'echo-00000001', agent: 'echo', reason: 'scaled down' }]);
  });

  it('replaces instances of an older manifest and removes undeployed and exited ones', () => {
    const plan = planReconcile(
      [{ name: 'echo', digest: 'sha256:b', replicas: 1 }],
      [sandbox('echo-00000001'), sandbox('gone-00000001', { agent: 'gone' }), sandbox('echo-00000002', { state: 'exited', manifestDigest: 'sha256:b' })],
    );
    expect(plan.remove.map((r) => [r.instanceId, r.reason])).toEqual([
      ['echo-00000001', 'manifest changed'],
      ['gone-00000001', 'agent is not deployed'],
      ['echo-00000002', 'instance exited'],
    ]);
    expect(plan.start).toEqual([{ agent: 'echo', count: 1 }]);
  });

  it('does nothing when everything matches', () => {
    expect(planReconcile([{ name: 'echo', digest: 'sha256:a', replicas: 1 }], [sandbox('echo-00000001')])).toEqual({ start: [], remove: [] });
  });
});

describe('instance and agent health', () => {
  const now = new Date('2026-01-01T00:01:00Z');
  it('is running only while heartbeats arrive', () => {
    expect(instanceStatus('running', null, 10_000, now)).toBe('starting');
    expect(instanceStatus('running', new Date('2026-01-01T00:00:55Z'), 10_000, now)).toBe('running');
    expect(instanceStatus('running', new Date('2026-01-01T00:00:20Z'), 10_000, now)).toBe('unhealthy');
    expect(instanceStatus('exited', new Date(), 10_000, now)).toBe('exited');
  });
  it('gives a silent new instance the runtime\'s startup grace when it declares one (a slow-booting guest)', () => {
    const silentSince = new Date(now.getTime() - 3 * 60_000); // 3 min without a first heartbeat
    expect(instanceStatus('running', null, 10_000, now, silentSince)).toBe('unhealthy');
    expect(instanceStatus('running', null, 10_000, now, silentSince, 10 * 60_000)).toBe('starting');
    expect(instanceStatus('running', null, 10_000, new Date(now.getTime() + 8 * 60_000), silentSince, 10 * 60_000)).toBe('unhealthy');
  });
  it('summarises an agent from its instances', () => {
    expect(agentStatus(true, 2, ['running', 'running'])).toBe('running');
    expect(agentStatus(true, 2, ['running', 'starting'])).toBe('deploying');
    expect(agentStatus(true, 2, ['running', 'unhealthy'])).toBe('degraded');
    expect(agentStatus(false, 2, [])).toBe('stopped');
  });
});
