import { join } from 'node:path';
import { connect } from 'nats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SystemStatus, TaskView } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../testkit/nats-server.js';
import { REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * NATS_URL: the daemon uses an external server instead of spawning one, and so do its agents.
 * The server is configured once with the flock's trust chain (`aiflock nats server-config`);
 * every agent still gets its own credentials, with nothing added to the server per agent.
 */
let nats: TestNatsServer;
let flock: TestFlock;

beforeAll(async () => {
  flock = await testFlock();
  const config = await flock.cli(['nats', 'server-config', '--resolver-dir', join(flock.home, 'external-resolver')]);
  expect(config.code, config.stderr).toBe(0);
  expect(config.stdout).toMatch(/^operator: ey/m);
  // Listening on every address of this host, so the sandboxes' bridge gateway reaches it.
  nats = await startNatsServer({ host: '0.0.0.0', config: config.stdout });
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

it('gives agents on the external server their own credentials, and refuses anonymous clients', async () => {
  const ready = await flock.api('/readyz');
  expect(ready.body.checks.busAuth).toMatchObject({ ok: true });
  await expect(connect({ servers: `127.0.0.1:${nats.port}`, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
  // The server knows the instance only as a user the flock signed, not from its own config.
  const connz = (await (await fetch(`http://127.0.0.1:${nats.monitorPort}/connz?auth=true`)).json()) as { connections: { name?: string; authorized_user?: string }[] };
  const instance = connz.connections.find((c) => c.name?.startsWith('echo-'));
  expect(instance?.authorized_user).toMatch(/^U[A-Z0-9]{55}$/);
});
