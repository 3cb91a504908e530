import { describe, expect, it } from 'vitest';
import { lazyHandler, type Handler, type TaskContext } from '../src/sdk.js';

const ctx = (input: unknown) => ({ input }) as TaskContext;

describe('lazyHandler', () => {
  it('loads the handler at its first task, once, and runs it for every task', async () => {
    let loads = 0;
    const h = lazyHandler(async () => {
      loads++;
      return (async (c) => `got ${String(c.input)}`) satisfies Handler;
    });
    expect(loads).toBe(0);
    expect(await Promise.all([h(ctx(1)), h(ctx(2))])).toEqual(['got 1', 'got 2']);
    expect(await h(ctx(3))).toBe('got 3');
    expect(loads).toBe(1);
  });

  it('fails the task whose load failed, and loads again for the next', async () => {
    let loads = 0;
    const h = lazyHandler(async () => {
      if (++loads === 1) throw new Error('module not found');
      return async () => 'loaded';
    });
    await expect(h(ctx(null))).rejects.toThrow('module not found');
    expect(await h(ctx(null))).toBe('loaded');
    expect(loads).toBe(2);
  });
});
