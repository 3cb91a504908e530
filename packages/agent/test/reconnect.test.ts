import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { afterAll, expect, it } from 'vitest';
import { connect } from 'nats';
import { subjects, type AgentEvent, type TaskResult } from '@aiflock/protocol';
import { waitForPort } from '../../../testkit/nats-server.js';
import { defineAgent, echo, runAgent, type AgentHandle } from '../src/index.js';
import { addQueue, answerPulls, Collector, enqueue, makeEnv, makeTask, newAgent, startPlane, type Plane } from './harness.js';

let plane: Plane | undefined;
let restarted: ChildProcess | undefined;
let handle: AgentHandle | undefined;

afterAll(async () => {
  await handle?.stop();
  await plane?.nc.close().catch(() => undefined);
  if (restarted && restarted.exitCode === null) {
    const exited = new Promise((r) => restarted!.once('exit', r));
    restarted.kill('SIGTERM');
    await exited;
  }
  if (plane) await rm(plane.server.storeDir, { recursive: true, force: true });
});

it('survives the bus going away and coming back, and keeps serving', async () => {
  plane = await startPlane();
  const { server } = plane;
  const ids = newAgent('reconn');
  await addQueue(plane.jsm, ids.agent);
  handle = runAgent(defineAgent({ handlers: { echo } }), makeEnv(server.url, ids), { logToStdout: false });
  await handle.ready;

  // The bus dies (daemon restart); the same server comes back on the same port and store.
  await plane.nc.close();
  const exited = new Promise((r) => server.proc.once('exit', r));
  server.proc.kill('SIGTERM');
  await exited;
  restarted = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(server.port), '-http_port', String(server.monitorPort), '-js', '-sd', server.storeDir],
    { stdio: 'ignore' },
  );
  await waitForPort('127.0.0.1', server.port, 10_000);

  const nc = await connect({ servers: server.url });
  // The control plane, back with the bus, pulls for instances again.
  answerPulls(nc);
  try {
    const js = nc.jetstream();
    const results = new Collector<TaskResult>(nc, subjects.results(ids.instanceId));
    const events = new Collector<AgentEvent>(nc, subjects.events(ids.instanceId));
    await nc.flush();
    const task = makeTask(ids.agent, 'echo', 'after the restart');
    await enqueue(js, task);
    expect(await results.wait((r) => r.taskId === task.id, 20_000, 'a result after the restart')).toMatchObject({
      status: 'completed',
      result: 'after the restart',
    });
    // It noticed, said so on the bus once back, and did not need to be restarted.
    await events.wait((e) => e.type === 'log' && e.msg.startsWith('reconnected to the bus'), 10_000, 'reconnected line');
    results.close();
    events.close();
  } finally {
    await nc.close();
  }
}, 60_000);
