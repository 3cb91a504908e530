import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SystemStatus, TaskView } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../testkit/nats-server.js';
import { REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';

/** NATS_URL: the daemon uses an external server instead of spawning one, and so do its agents. */
let nats: TestNatsServer;
let flock: TestFlock;

beforeAll(async () => {
  // Listening on every address of this host, so the sandboxes' bridge gateway reaches it.
  nats = await startNatsServer({ host: '0.0.0.0' });
  flock = await testFlock();
  flock.env['NATS_URL'] = `nats://127.0.0.1:${nats.port}`;
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 240_000 });
  expect(up.code, up.stderr).toBe(0);
});

afterAll(async () => {
  await flock?.cleanup();
  await nats?.stop();
});

it('runs agents and tasks through an external NATS server', async () => {
  const status = await flock.cliJson<SystemStatus>(['status']);
  expect(status.checks['nats']!.detail).toContain(`external at nats://127.0.0.1:${nats.port}`);
  expect(status.checks['bus']).toMatchObject({ ok: true });
  const deploy = await flock.cli(['agent', 'deploy', `${REPO_ROOT}/examples/echo.agent.yaml`]);
  expect(deploy.code, deploy.stderr).toBe(0);
  const t = await flock.cliJson<TaskView>(['task', 'run', 'echo', '--input', 'via external bus', '--wait']);
  expect(t).toMatchObject({ status: 'completed', result: 'via external bus' });
  // The server really carries the flock: its JetStream holds the flock's streams.
  const jsz = (await (await fetch(`http://127.0.0.1:${nats.monitorPort}/jsz?streams=true`)).json()) as { streams: number };
  expect(jsz.streams).toBeGreaterThanOrEqual(3);
});
