import { describe, expect, it } from 'vitest';
import { KeyedLanes } from '../src/adapters/nats/keyed-lanes.js';

/** A job that records when it starts and ends, and finishes when the test says. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return {
    open,
    job: async () => {
      log.push(`${name}+`);
      await opened;
      log.push(`${name}-`);
    },
  };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('KeyedLanes', () => {
  it('runs one key in order and different keys side by side, at most `limit` at once', async () => {
    const log: string[] = [];
    const lanes = new KeyedLanes(2);
    const [a1, a2, c1] = [gate(log, 'a1'), gate(log, 'a2'), gate(log, 'c1')];
    await lanes.run('a', a1.job);
    await lanes.run('a', a2.job);
    // a2 waits behind a1; both count as running, so c1 is not admitted until one ends.
    let admitted = false;
    const c = lanes.run('c', c1.job).then(() => (admitted = true));
    await tick();
    expect(log).toEqual(['a1+']);
    expect(admitted).toBe(false);
    a1.open();
    await c;
    await tick();
    expect(log.slice(0, 2)).toEqual(['a1+', 'a1-']);
    expect(log.slice(2).sort()).toEqual(['a2+', 'c1+']);
    a2.open();
    c1.open();
    await lanes.idle();
    expect(log.slice(4).sort()).toEqual(['a2-', 'c1-']);
  });

  it('a job with several keys waits for every lane it holds, and later jobs of each lane wait for it', async () => {
    const log: string[] = [];
    const lanes = new KeyedLanes(16);
    const [t1, t2, batch, t1after, t2after, other] = ['t1', 't2', 'batch', 't1after', 't2after', 'other'].map((n) => gate(log, n));
    await lanes.run('t1', t1!.job);
    await lanes.run('t2', t2!.job);
    await lanes.run(['t1', 't2', 't1'], batch!.job);
    await lanes.run('t1', t1after!.job);
    await lanes.run('t2', t2after!.job);
    await lanes.run('x', other!.job);
    await tick();
    expect(log.sort()).toEqual(['other+', 't1+', 't2+']);
    log.length = 0;
    t1!.open();
    await tick();
    // t2 still runs: the batch holds t2's lane too, so it waits.
    expect(log).toEqual(['t1-']);
    t2!.open();
    await tick();
    expect(log).toEqual(['t1-', 't2-', 'batch+']);
    batch!.open();
    await tick();
    await tick();
    expect(log.slice(3).sort()).toEqual(['batch-', 't1after+', 't2after+'].sort());
    expect(log.indexOf('batch-')).toBeLessThan(log.indexOf('t1after+'));
    for (const g of [t1after, t2after, other]) g!.open();
    await lanes.idle();
  });
});
