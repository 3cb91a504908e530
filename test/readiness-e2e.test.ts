import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/** /readyz means it: it flips when the bus stops answering and back when it answers again. */
let flock: TestFlock;
let natsPid = 0;

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  natsPid = Number((await readFile(join(flock.home, 'nats', 'nats.pid'), 'utf8')).trim());
});

afterAll(async () => {
  if (natsPid) {
    try {
      process.kill(natsPid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await flock?.cleanup();
});

describe('GET /readyz', () => {
  it('turns 503 naming the bus while nats-server is frozen, and 200 once it answers again', async () => {
    const ready = await flock.api('/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body.checks.bus.ok).toBe(true);

    // Freeze the server: the process exists (so nothing restarts it) but answers nothing.
    process.kill(natsPid, 'SIGSTOP');
    const down = await eventually(async () => {
      const r = await flock.api('/readyz', { token: null });
      return r.status === 503 ? r : null;
    }, '/readyz to report the frozen bus');
    expect(down.body.ok).toBe(false);
    expect(down.body.checks.bus.ok).toBe(false);
    expect(down.body.checks.store.ok).toBe(true);
    // The process itself is still up.
    expect((await flock.api('/healthz', { token: null })).status).toBe(200);

    process.kill(natsPid, 'SIGCONT');
    const back = await eventually(async () => {
      const r = await flock.api('/readyz', { token: null });
      return r.status === 200 ? r : null;
    }, '/readyz to recover');
    expect(back.body.checks.bus.ok).toBe(true);
  });
});
