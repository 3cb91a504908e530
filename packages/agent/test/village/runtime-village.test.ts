import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSONCodec, type Subscription } from 'nats';
import { subjects, type BroadcastMessage, type RpcReply } from '@aiflock/protocol';
import { defineAgent, echo, runAgent, type Handler } from '../../src/index.js';
import { addQueue, enqueue, makeEnv, makeTask, newAgent, startPlane, type Plane } from '../harness.js';
import { perception } from './fixtures.js';

/**
 * The runtime's wiring over a real nats-server: a villager's sandbox (AIFLOCK_VILLAGE set)
 * runs the loop next to its handlers, and handlers reach the board and the economy through
 * `ctx`. The test answers the control plane's side of the bus ops by their wire format
 * (`agent.<id>.rpc.<service>.<op>`, RpcReply), recording what the agent asked.
 */
const codec = JSONCodec();
let plane: Plane;

beforeAll(async () => {
  plane = await startPlane();
});
afterAll(async () => {
  await plane?.close();
});

interface Call {
  op: string;
  payload: unknown;
}

/** Answers this instance's RPCs like the control plane would; the LLM is unavailable. */
function answerRpc(instanceId: string, name: string): { calls: Call[]; sub: Subscription } {
  const calls: Call[] = [];
  const sub = plane.nc.subscribe(`agent.${instanceId}.rpc.>`, {
    callback: (_e, msg) => {
      const op = msg.subject.split('.').slice(3).join('.');
      // Pulling tasks is the harness's to answer (it makes the pull request).
      if (op === 'tasks.pull') return;
      const payload = codec.decode(msg.data);
      calls.push({ op, payload });
      const ok = (result: unknown): RpcReply => ({ ok: true, result });
      const reply: RpcReply =
        op === 'world.perceive' ? ok(perception(name))
        : op === 'memory.recall' ? ok({ memories: [] })
        : op === 'memory.add' ? ok({ id: 'mem_1', importance: 3, reflected: 0, summarised: 0 })
        // Whole contract shapes (AGENT_OPS): the agent's clients parse replies and refuse partial ones.
        : op === 'economy.status' ? ok({ agent: name, tier: 'basic', basis: 'balance', balance: 1234, frozen: false, until: null, limits: { models: [], requestsPerMinute: 1, tokensPerHour: 1, concurrentCalls: 1, concurrentToolRuns: 1 } })
        : op === 'board.post' ? ok({ id: 'post_aaaaaaaaaaaaaaaaaaaaaaa', authorType: 'agent', authorId: name, audience: 'public', tags: [], status: 'open', bounty: 0, moderation: null, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', ...(payload as object) })
        : op.startsWith('llm.') ? { ok: false, error: { code: 'llm_unavailable', message: 'no LLM provider is configured' } }
        : ok({ ok: true });
      // A streaming op answers with frames: an error before any chunk is the end frame 0.
      msg.respond(codec.encode(op === 'llm.stream' ? { type: 'end', seq: 0, reply } : reply));
    },
  });
  return { calls, sub };
}

async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never saw ${what}`);
}

/** A villager sandbox with an llm policy and no model (every 100 ms), its RPCs answered by `answerRpc`. */
async function startVillager(name: string, persona: string) {
  const ids = newAgent(name);
  await addQueue(plane.jsm, ids.agent);
  const { calls, sub } = answerRpc(ids.instanceId, ids.agent);
  const env = makeEnv(plane.server.url, ids, {
    AIFLOCK_HANDLERS: ['echo'],
    AIFLOCK_VILLAGE: { policy: 'llm', every: 100, decisionTimeout: 5_000, home: 'home', persona, model: null },
  });
  const agent = runAgent(defineAgent({ handlers: { echo } }), env, { logToStdout: false, stopGraceMs: 1_000 });
  return { calls, sub, agent };
}

describe('a villager sandbox', () => {
  it('runs the village loop: an llm villager with no model follows its rules and says so', async () => {
    const { calls, sub, agent } = await startVillager('baker', 'You are Bea.');
    try {
      await agent.ready;
      const declared = await until(() => calls.find((c) => c.op === 'world.declare'), 'a declaration');
      expect(declared.payload).toEqual({ policy: 'rules', model: null });
      // The llm was asked first, with the world's actions as tools; its refusal made this a rules turn.
      const asked = calls.find((c) => c.op === 'llm.chat' || c.op === 'llm.stream');
      expect(asked?.payload).toMatchObject({ params: { tools: expect.arrayContaining([expect.objectContaining({ name: 'walk' })]) } });
      await until(() => calls.find((c) => c.op === 'world.move'), 'a move');
      expect(calls.find((c) => c.op === 'world.move')!.payload).toEqual({ to: 'home' });
      const said = await until(() => calls.find((c) => c.op === 'world.act' && (c.payload as { type: string }).type === 'do'), 'an activity');
      expect(said.payload).toEqual({ type: 'do', activity: 'walking to the Home (on my routine: no LLM is reachable in this flock)' });
    } finally {
      await agent.stop();
      const after = calls.length;
      await new Promise((r) => setTimeout(r, 300));
      // Stopped means stopped: no turn after the runtime is down.
      expect(calls.length).toBe(after);
      sub.unsubscribe();
    }
  });

  it('hears an announcement (aiflock broadcast): the next turn asks the model with it and remembers it, weighing much', async () => {
    const { calls, sub, agent } = await startVillager('crier', 'You are Cal.');
    try {
      await agent.ready;
      await until(() => calls.find((c) => c.op === 'world.declare'), 'a first turn');
      const message: BroadcastMessage = { id: 'b_fair', text: 'The fair opens at noon in the market', from: 'tok_admin', sentAt: new Date().toISOString() };
      plane.nc.publish(subjects.broadcast, codec.encode(message));
      const remembered = await until(() => calls.find((c) => c.op === 'memory.add' && JSON.stringify(c.payload).includes('The fair opens')), 'the announcement remembered');
      expect(remembered.payload).toEqual({ kind: 'observation', text: 'An announcement to everyone in the village: The fair opens at noon in the market', importance: 8 });
      // The turn that heard it asked the model with it among what was heard.
      const asked = calls.find((c) => c.op.startsWith('llm.') && JSON.stringify(c.payload).includes('announcement: The fair opens at noon in the market'));
      expect(asked, 'the model was told what was announced').toBeDefined();
    } finally {
      await agent.stop();
      sub.unsubscribe();
    }
  });

  it('gives handlers the board and their own economy standing on ctx', async () => {
    const ids = newAgent('clerk');
    await addQueue(plane.jsm, ids.agent);
    const { calls, sub } = answerRpc(ids.instanceId, ids.agent);
    const ask: Handler = async (ctx) => {
      const standing = await ctx.economy.status();
      const post = await ctx.board.post({ title: 'Balance check', body: `I have ${standing.balance} cents` });
      return { result: post.id, output: { tier: standing.tier } };
    };
    const env = makeEnv(plane.server.url, ids, { AIFLOCK_HANDLERS: ['ask'] });
    const results = plane.nc.subscribe(`agent.${ids.instanceId}.results`);
    const agent = runAgent(defineAgent({ handlers: { ask } }), env, { logToStdout: false, stopGraceMs: 1_000 });
    try {
      await agent.ready;
      await enqueue(plane.js, makeTask(ids.agent, 'ask', {}));
      for await (const m of results) {
        const r = m.json<{ status: string; output: unknown }>();
        expect(r).toMatchObject({ status: 'completed', output: { tier: 'basic' } });
        break;
      }
      expect(calls.map((c) => c.op)).toEqual(['economy.status', 'board.post']);
      expect(calls[1]!.payload).toEqual({ title: 'Balance check', body: 'I have 1234 cents', tags: [], audience: 'public' });
      // Not a villager: no loop runs.
      expect(calls.some((c) => c.op.startsWith('world.'))).toBe(false);
    } finally {
      await agent.stop();
      sub.unsubscribe();
    }
  });
});
