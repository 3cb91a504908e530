import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '@aiflock/core';
import type { TaskStep } from '@aiflock/protocol';

/** An agent loop's steps: listed in the order the loop took them, each delivery of one step recorded once. */
export function contract(open: () => Promise<Store>): void {
  describe('task steps', () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    const step = (taskId: string, seq: number, ts: string, over: Partial<TaskStep> = {}): TaskStep => ({ type: 'task.step', ts, taskId, seq, kind: 'thought', text: `step ${seq}`, ...over }) as TaskStep;
    const T = 't_steps0000000000000000000001';

    it('keeps steps in arrival order, per task, whole', async () => {
      const call = step(T, 1, '2026-01-01T00:00:01.000Z', { kind: 'tool_call', tool: 'files', callId: 'c1', args: { op: 'read', path: 'a.txt', nested: { n: [1, 2] } } });
      expect(await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: step(T, 0, '2026-01-01T00:00:00.000Z') })).toBe(true);
      expect(await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: call })).toBe(true);
      await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: step('t_other000000000000000000001', 0, '2026-01-01T00:00:00.000Z') });
      const got = await store.taskSteps.list(T, 100);
      expect(got.map((r) => r.step)).toEqual([step(T, 0, '2026-01-01T00:00:00.000Z'), call]);
      expect(got[0]).toMatchObject({ agent: 'coder', instanceId: 'coder-1' });
      expect(await store.taskSteps.list(T, 1)).toHaveLength(1);
    });

    it('lists an attempt\'s steps by number even when they were stored out of order, attempts in the order they began', async () => {
      const at = (seq: number, s: number) => step(T, seq, `2026-01-01T00:00:0${s}.000Z`);
      // coder-1's attempt: steps 1 and 2 stored before 0; coder-2 takes over later, its step 1 first.
      for (const s of [at(1, 1), at(2, 1), at(0, 0)]) await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: s });
      for (const s of [at(1, 6), at(0, 5)]) await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-2', step: s });
      const got = await store.taskSteps.list(T, 100);
      expect(got.map((r) => `${r.instanceId}#${r.step.seq}`)).toEqual(['coder-1#0', 'coder-1#1', 'coder-1#2', 'coder-2#0', 'coder-2#1']);
    });

    it('records a step delivered twice once; another attempt (seq from 0 again, later) is kept', async () => {
      const first = step(T, 0, '2026-01-01T00:00:00.000Z');
      expect(await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: first })).toBe(true);
      expect(await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: first })).toBe(false);
      expect(await store.taskSteps.append({ agent: 'coder', instanceId: 'coder-1', step: step(T, 0, '2026-01-01T00:05:00.000Z') })).toBe(true);
      expect((await store.taskSteps.list(T, 100)).map((r) => r.step.ts)).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T00:05:00.000Z']);
    });
  });
}
