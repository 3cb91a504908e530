import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../testkit/flock.js';
import { connectionsByServer, loseHost, NODES, startHostLoss, type HostLossSetup } from '../testkit/host-loss.js';
import { phases } from '../testkit/phases.js';

/**
 * Losing a host of three with tasks in flight (issue 17; the scenario is testkit/host-loss.ts):
 * three "hosts" each with a nats-server of the flock's cluster and a joined node agent, the
 * control plane on PostgreSQL, an agent's six replicas two per host. With tasks in flight one
 * host dies whole (node agent, nats-server, sandboxes: SIGKILLed at once). Then every task has
 * ended exactly once, each re-run explained by the lost host, and the host's instances run
 * elsewhere. 1,000 tasks (the number issue 17 asks this test for), the kill once 100 are
 * done: the rest queued or in flight on every host, the lost one's included. Kill →
 * replacement times over several runs are bench/nodes-chaos.ts's to measure
 * (bench/results/nodes-chaos.json).
 */
const TASKS = 1000;
const phase = phases('nodes-chaos');
let s: HostLossSetup;

beforeAll(async () => {
  s = await startHostLoss(phase);
}, 360_000);

afterAll(async () => {
  await s?.close();
});

it('spreads the replicas two per host, each host’s sandboxes on its own host’s server', async () => {
  const view = await s.agentView();
  const perNode = NODES.map((n) => view.instances.filter((i) => i.node === n && i.status === 'running').length);
  expect(perNode).toEqual([2, 2, 2]);
  const on = await eventually(async () => {
    const m = await connectionsByServer(s.cluster.members);
    return view.instances.every((i) => m.has(i.id)) ? m : undefined;
  }, "every instance's connection on a server");
  // Host i runs server n<i>: each node's instances are connected to its own.
  expect(view.instances.map((i) => [i.id, on.get(i.id)])).toEqual(view.instances.map((i) => [i.id, `n${NODES.indexOf(i.node!) + 1}`]));
});

it(`loses a whole host (node, sandboxes, nats-server) with ${TASKS} tasks in flight: every task ends exactly once, the host’s instances run elsewhere`, async () => {
  const r = await loseHost(s, { tasks: TASKS, killAt: 100, idempotencyPrefix: 'nodes-chaos' }, phase);
  process.stderr.write(`nodes-chaos: ${JSON.stringify(r.figures)}\n`);
  // The host held two instances, and what died in its cgroups was exactly their sandboxes.
  expect(r.lostInstances).toHaveLength(2);
  expect([...r.sandboxesKilled].sort()).toEqual([...r.lostInstances].sort());
  // Killed with work left: the queue had not drained.
  expect(r.figures['completedAtKill'] as number).toBeLessThan(TASKS);
  const replacements = r.moved.instances.filter((i) => !r.before.instances.some((b) => b.id === i.id));
  expect(replacements.map((i) => i.node).every((n) => n !== r.victim)).toBe(true);
  expect(replacements).toHaveLength(2);

  // Exactly once each: the store's own rows, and its log of finishing transitions.
  expect(r.found).toHaveLength(TASKS);
  const byId = new Map(r.found.map((x) => [x.id, x]));
  r.ids.forEach((id, n) => {
    expect(byId.get(id)?.status, id).toBe('completed');
    expect((JSON.parse(byId.get(id)!.output) as { stdout: string }).stdout.trim(), id).toBe(`task-${n}`);
  });
  expect(r.ids.filter((id) => r.finals.get(id) !== 1), 'tasks not completed exactly once').toEqual([]);
  // Each task delivered more than once was the lost host's (started on one of its instances,
  // or every start after the kill); one started elsewhere before the kill and again after would be one run twice.
  expect(
    r.unexplained.map((x) => `${x.id}: attempt ${x.attempt}`),
    `re-run tasks neither started on ${r.victim} nor first started after its death:\n${r.unexplained.flatMap((u) => r.startsOf(u.id)).map((x) => `${x.ts} ${x.task_id} ${x.instance_id}: ${x.msg}`).join('\n')}`,
  ).toEqual([]);
}, 420_000);
