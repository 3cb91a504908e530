import Dockerode from 'dockerode';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, BroadcastMessage, DeployResponse, LogLine, RevisionList } from '@aiflock/protocol';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The users' CIM agent.md deployed into real sandboxes (Docker, nats-server, SQLite), three
 * replicas; the documents' environment names inside each; a broadcast every instance hears.
 * The node is named as the document's target_node, so its placement holds here.
 */
const CIM_EXAMPLE = join(REPO_ROOT, 'examples', 'agents', 'nats-expert.cim.agent.md');
const NODE = 'dgx-spark-01';
const docker = new Dockerode();
let flock: TestFlock;
let agent: AgentView;

beforeAll(async () => {
  flock = await testFlock({ env: { AIFLOCK_NODE: NODE } });
  // Without the demo agents: this file is about the CIM agent, and six more sandboxes cost CI minutes.
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  // This machine may have fewer cores than the document's 300%: the deploy-time override says so.
  const out = await flock.cliJson<DeployResponse>(['agent', 'deploy', CIM_EXAMPLE, '--set', 'resources.cpu=0.5', '--set', 'resources.memory=256Mi', '--set', 'replicas=3']);
  expect(out).toMatchObject({ changed: true, revision: 1, agent: { name: 'nats-expert', description: 'NATS Infrastructure Expert' } });
  expect(out.notes?.map((n) => n.field).sort()).toEqual(['model.ollama.url', 'nats']);
  agent = await eventually(async () => {
    const a = (await flock.api('/v1/agents/nats-expert')).body as AgentView;
    return a.replicas.ready === 3 ? a : null;
  }, 'three instances of the CIM agent running', 240_000);
}, 600_000);

afterAll(async () => {
  await flock?.cleanup();
});

describe('the CIM agent in real sandboxes', { timeout: 240_000 }, () => {
  it("sets the documents' environment names in every sandbox, alongside ours", async () => {
    for (const i of agent.instances) {
      const env = ((await docker.getContainer(i.containerId!).inspect()).Config.Env ?? []) as string[];
      const value = (name: string) => env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
      expect(value('AGENT_ID')).toBe(i.id);
      expect(value('NATS_URL')).toBe(value('AIFLOCK_NATS_URL'));
      expect(value('NATS_URL')).toMatch(/^nats:\/\//);
      expect(value('SHARED_DIR')).toBe('/shared');
    }
  });

  it('reaches every instance with an admin broadcast, and refuses one from a non-admin', async () => {
    const sent = await flock.cliJson<BroadcastMessage>(['broadcast', 'Maintenance at noon']);
    expect(sent.text).toBe('Maintenance at noon');
    const heard = await eventually(async () => {
      const { lines } = (await flock.api('/v1/agents/nats-expert/logs?tail=1000')).body as { lines: LogLine[] };
      const by = new Set(lines.filter((l) => l.msg.includes(`: Maintenance at noon`)).map((l) => l.instanceId));
      return by.size === 3 ? by : null;
    }, 'the broadcast in the logs of all three instances');
    expect([...heard].sort()).toEqual(agent.instances.map((i) => i.id).sort());

    const writer = (await flock.cliJson<{ token: string }>(['token', 'create', '--name', 'deployer', '--scope', 'agents:write'])).token;
    const refused = await flock.cli(['broadcast', 'Free money'], { token: writer });
    expect(refused.code).toBe(7);
    const { lines } = (await flock.api('/v1/agents/nats-expert/logs?tail=1000')).body as { lines: LogLine[] };
    expect(lines.some((l) => l.msg.includes('Free money'))).toBe(false);
  });

  it('keeps the overrides in the revision, and refuses a placement on a node this flock does not have', async () => {
    const history = await flock.cliJson<RevisionList>(['agent', 'history', 'nats-expert']);
    expect(history.revisions).toMatchObject([{ revision: 1, current: true, overrides: ['resources.cpu=0.5', 'resources.memory=256Mi', 'replicas=3'] }]);
    const elsewhere = await flock.cli(['agent', 'deploy', CIM_EXAMPLE, '--set', 'placement.node=dgx-spark-02', '--set', 'resources.cpu=0.5']);
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toMatch(/placement.node "dgx-spark-02" is not a node of this flock \(nodes: dgx-spark-01\)/);
    expect(((await flock.api('/v1/agents/nats-expert')).body as AgentView).digest).toBe(agent.digest);
  });
});
