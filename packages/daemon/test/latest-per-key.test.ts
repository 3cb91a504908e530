import { describe, expect, it } from 'vitest';
import { LatestPerKey } from '../src/nodes/latest-per-key.js';

/** How node heartbeats are stored: one at a time per node, the newest only, nodes side by side. */
describe('LatestPerKey', () => {
  it('runs only the newest job offered while a key is busy, and other keys meanwhile', async () => {
    const lanes = new LatestPerKey();
    const ran: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    lanes.offer('west', async () => {
      ran.push('west 1 start');
      await held;
      ran.push('west 1 end');
    });
    for (const n of [2, 3, 4]) lanes.offer('west', async () => void ran.push(`west ${n}`));
    const eastDone = new Promise<void>((r) => lanes.offer('east', async () => (ran.push('east 1'), r())));
    await eastDone;
    // East ran while west's first job was still held; west's 2 and 3 were superseded by 4.
    expect(ran).toEqual(['west 1 start', 'east 1']);
    release();
    await new Promise<void>((r) => lanes.offer('north', async () => r()));
    await new Promise((r) => setTimeout(r, 10));
    expect(ran).toEqual(['west 1 start', 'east 1', 'west 1 end', 'west 4']);
  });

  it('runs a job offered after the key went idle', async () => {
    const lanes = new LatestPerKey();
    const ran: number[] = [];
    await new Promise<void>((r) => lanes.offer('west', async () => (ran.push(1), r())));
    await new Promise((r) => setTimeout(r, 0));
    await new Promise<void>((r) => lanes.offer('west', async () => (ran.push(2), r())));
    expect(ran).toEqual([1, 2]);
  });
});
