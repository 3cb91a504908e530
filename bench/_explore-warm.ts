import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentView, TaskView } from '@aiflock/protocol';
import { echoManifest, main, progress, randomId, sleep, startFlock, until } from './lib.js';
const run = promisify(execFile);
main('explore', async () => {
  const f = await startFlock();
  f.testFlock.env['AIFLOCK_LOG_LEVEL'] = 'debug';
  const agent = `warm-${randomId(6)}`;
  await f.api('POST', '/v1/agents', { manifest: (await echoManifest(agent, 0)) + 'scaling:\n  warm: 1\n', filename: `${agent}.agent.yaml` });
  for (let r = 0; r < 3; r++) {
    const view = () => f.api<AgentView>('GET', `/v1/agents/${agent}`);
    await until('warm', async () => ((await view()).warm?.ready ?? 0) >= 1, 120_000);
    await sleep(3000);
    const created = await f.api<TaskView | { task: TaskView }>('POST', '/v1/tasks', { agent, type: 'echo', input: {}, timeoutMs: 600_000 });
    const id = 'task' in created ? created.task.id : created.id;
    const t0 = Date.now();
    await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: 1 });
    let task: TaskView;
    for (;;) { task = await f.api<TaskView>('GET', `/v1/tasks/${id}`); if (task.startedAt) break; await sleep(10); }
    const inst = (await view()).instances[0]!;
    progress(`run ${r}: scale at ${new Date(t0).toISOString()} started ${task.startedAt} (${Date.parse(task.startedAt!) - t0} ms) instance ${inst.id}`);
    const log = await readFile(join(f.testFlock.home, 'daemon.log'), 'utf8');
    for (const l of log.split('\n').filter((l) => l.includes(inst.id)).slice(-12)) progress('  D ' + l.slice(0, 600));
    const { stdout, stderr } = await run('docker', ['logs', '-t', `aiflock-${f.name}-${inst.id}`]);
    for (const l of (stdout + stderr).split('\n').slice(0, 30)) progress('  C ' + l.slice(0, 300));
    await f.api('POST', `/v1/agents/${agent}/scale`, { replicas: 0 });
    await until('none', async () => (await view()).instances.length === 0, 120_000);
  }
});
