import { describe, expect, it } from 'vitest';
import { TASK_STATUSES, type TaskResult } from '@aiflock/protocol';
import { canTransition, decideResult, isTerminal, statusesBefore } from '../src/index.js';

const result = (over: Partial<TaskResult> = {}): TaskResult => ({
  agentId: 'echo-abcd1234',
  taskId: 't_00000000000000000000',
  status: 'completed',
  timestamp: new Date(0).toISOString(),
  result: 'ok',
  attempt: 1,
  durationMs: 1,
  ...over,
});

describe('task lifecycle', () => {
  it('only moves forward from queued and running', () => {
    expect(canTransition('queued', 'running')).toBe(true);
    expect(canTransition('running', 'completed')).toBe(true);
    expect(canTransition('running', 'queued')).toBe(true); // redelivery after an instance is lost
    expect(canTransition('queued', 'completed')).toBe(false);
    for (const terminal of ['completed', 'failed', 'cancelled', 'timed_out'] as const) {
      expect(isTerminal(terminal)).toBe(true);
      for (const to of TASK_STATUSES) expect(canTransition(terminal, to)).toBe(false);
    }
  });

  it('knows where cancellation may come from', () => {
    expect(statusesBefore('cancelled').sort()).toEqual(['queued', 'running', 'waiting_for_human']);
  });

  it('a running task waits for a person and runs again, or ends while it waits', () => {
    expect(canTransition('running', 'waiting_for_human')).toBe(true);
    expect(canTransition('waiting_for_human', 'running')).toBe(true);
    expect(canTransition('queued', 'waiting_for_human')).toBe(false); // only a started task asks
    for (const end of ['completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'] as const) expect(canTransition('waiting_for_human', end)).toBe(true);
    expect(canTransition('waiting_for_human', 'queued')).toBe(true); // its instance lost, redelivered
    expect(isTerminal('waiting_for_human')).toBe(false);
    expect(decideResult({ status: 'waiting_for_human', agent: 'echo' }, result(), 'echo')).toEqual({ apply: true, status: 'completed' });
  });

  it('applies a result from an instance of the owning agent', () => {
    expect(decideResult({ status: 'running', agent: 'echo' }, result(), 'echo')).toEqual({ apply: true, status: 'completed' });
  });

  it('ignores late and duplicate results', () => {
    expect(decideResult({ status: 'cancelled', agent: 'echo' }, result(), 'echo')).toEqual({ apply: false, reason: 'already_finished' });
    expect(decideResult({ status: 'completed', agent: 'echo' }, result(), 'echo')).toEqual({ apply: false, reason: 'already_finished' });
    // A late result of an earlier attempt still finishes a running task: the work was done
    // (a result carries its attempt; the decision does not depend on the task's current one).
    expect(decideResult({ status: 'running', agent: 'echo' }, result({ attempt: 1 }), 'echo')).toEqual({ apply: true, status: 'completed' });
  });

  it("refuses a result for another agent's task", () => {
    expect(decideResult({ status: 'running', agent: 'bank' }, result(), 'echo')).toEqual({ apply: false, reason: 'wrong_instance' });
  });
});
