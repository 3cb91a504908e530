import { describe, expect, it, beforeEach } from 'vitest';
import type { Store } from '@aiflock/core';

/** The village's snapshot and input log: what a restart needs to resume the same world. */
export function contract(open: () => Promise<Store>): void {
  describe('world', () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });

    it('starts empty', async () => {
      expect(await store.world.latestSnapshot()).toBeUndefined();
      expect(await store.world.inputsAfter(0)).toEqual([]);
    });

    it('keeps input rows in tick order and returns those after a tick', async () => {
      const move = { kind: 'move', name: 'ann', move: { dx: 1, dy: 0 } };
      await store.world.appendInputs(3, [move]);
      await store.world.appendInputs(7, [{ kind: 'act', name: 'ann', action: { type: 'talk', text: 'héllo "quoted" ✓' } }, move]);
      await store.world.appendInputs(5_000_000_000, [move]); // ticks outgrow 32 bits after ~34 years at 250 ms; store them as bigint
      expect((await store.world.inputsAfter(0)).map((r) => r.tick)).toEqual([3, 7, 5_000_000_000]);
      expect(await store.world.inputsAfter(3)).toEqual([
        { tick: 7, inputs: [{ kind: 'act', name: 'ann', action: { type: 'talk', text: 'héllo "quoted" ✓' } }, move] },
        { tick: 5_000_000_000, inputs: [move] },
      ]);
    });

    it('refuses a second row for the same tick (one writer, one row per tick)', async () => {
      await store.world.appendInputs(4, [{ kind: 'leave', name: 'ann' }]);
      await expect(store.world.appendInputs(4, [{ kind: 'leave', name: 'bob' }])).rejects.toThrow();
      expect(await store.world.inputsAfter(0)).toEqual([{ tick: 4, inputs: [{ kind: 'leave', name: 'ann' }] }]);
    });

    it('a snapshot replaces the last one and drops the input rows it covers', async () => {
      for (const t of [1, 2, 3, 4]) await store.world.appendInputs(t, [{ kind: 'leave', name: `v${t}` }]);
      await store.world.saveSnapshot(2, { version: 1, tick: 2, villagers: [{ name: 'ann' }] });
      expect(await store.world.latestSnapshot()).toEqual({ tick: 2, state: { version: 1, tick: 2, villagers: [{ name: 'ann' }] } });
      expect((await store.world.inputsAfter(0)).map((r) => r.tick)).toEqual([3, 4]);
      await store.world.saveSnapshot(4, { version: 1, tick: 4, villagers: [] });
      expect(await store.world.latestSnapshot()).toEqual({ tick: 4, state: { version: 1, tick: 4, villagers: [] } });
      expect(await store.world.inputsAfter(0)).toEqual([]);
    });
  });
}
