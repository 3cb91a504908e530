import { afterAll, beforeAll, expect, it } from 'vitest';
import { subjects, type BroadcastMessage } from '@aiflock/protocol';
import { defineAgent, echo, runAgent } from '../src/index.js';
import { addQueue, makeEnv, newAgent, startPlane, type Plane } from './harness.js';

/** The runtime hands every valid announcement on `broadcast` to onBroadcast, and skips invalid ones. */
let plane: Plane;
beforeAll(async () => {
  plane = await startPlane();
});
afterAll(async () => {
  await plane?.close();
});

it('calls onBroadcast with each valid broadcast, ignores a malformed one, and survives a throwing handler', async () => {
  const ids = newAgent('listener');
  await addQueue(plane.jsm, ids.agent);
  const heard: BroadcastMessage[] = [];
  const handle = runAgent(
    defineAgent({
      handlers: { echo },
      onBroadcast: (m) => {
        heard.push(m);
        if (m.text === 'boom') throw new Error('handler failed');
      },
    }),
    makeEnv(plane.server.url, ids),
    { logToStdout: false, stopGraceMs: 2_000 },
  );
  await handle.ready;
  const send = (m: unknown) => plane.nc.publish(subjects.broadcast, new TextEncoder().encode(typeof m === 'string' ? m : JSON.stringify(m)));
  const message = (id: string, text: string): BroadcastMessage => ({ id, text, from: 'tok_admin', sentAt: new Date().toISOString() });
  send(message('b1', 'boom'));
  send('not json');
  send({ id: 'b2', text: 'missing fields' });
  send(message('b3', 'Maintenance at noon'));
  await plane.nc.flush();
  await expect.poll(() => heard.map((m) => m.id), { timeout: 10_000 }).toEqual(['b1', 'b3']);
  expect(heard[1]).toMatchObject({ text: 'Maintenance at noon', from: 'tok_admin' });
  await handle.stop();
});

it('refuses an onBroadcast that is not a function', () => {
  expect(() => defineAgent({ handlers: { echo }, onBroadcast: 'nope' as never })).toThrow(/onBroadcast is not a function/);
});
