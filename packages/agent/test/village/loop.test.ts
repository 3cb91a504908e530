import { describe, expect, it } from 'vitest';
import type { ActionRequest, DeclarePolicy, MoveRequest, Perception, RecalledMemory } from '@aiflock/protocol';
import { DecisionError, RulesPolicy, VillageLoop, type Decision, type DecideInput, type Policy } from '../../src/index.js';
import { ManualClock, perception, settle } from './fixtures.js';

/** The world, board and memory as the loop calls them, recording every call in order. */
class Recorder {
  calls: string[] = [];
  moves: MoveRequest[] = [];
  acts: ActionRequest[] = [];
  declares: DeclarePolicy[] = [];
  posts: { title: string; body: string }[] = [];
  replies: { postId: string; body: string }[] = [];
  memories: { kind: string; text: string; importance?: number }[] = [];
  next: Perception = perception('baker');
  failMove = false;

  world = {
    perceive: async () => {
      this.calls.push('perceive');
      return this.next;
    },
    move: async (m: MoveRequest) => {
      this.calls.push('move');
      if (this.failMove) throw new Error('no path to that tile');
      this.moves.push(m);
      return { goal: null, path: 0 };
    },
    act: async (a: ActionRequest) => {
      this.calls.push(`act:${a.type}`);
      this.acts.push(a);
    },
    declare: async (d: DeclarePolicy) => {
      this.calls.push('declare');
      this.declares.push(d);
    },
  };
  /** Titles already on the board under this villager's name (from before a restart). */
  onBoard: string[] = [];
  lists: string[] = [];
  board = {
    post: async (p: { title: string; body: string }) => {
      this.posts.push(p);
      return { id: 'post_x' } as never;
    },
    list: async (q: { author?: string }) => {
      this.lists.push(q.author ?? '');
      return { posts: [...this.onBoard, ...this.posts.map((p) => p.title)].map((title) => ({ title })) as never[], next: null };
    },
    reply: async (r: { postId: string; body: string }) => {
      this.replies.push(r);
      return { id: 'reply_x' } as never;
    },
  };
  memory = {
    add: async (m: { kind: string; text: string; importance?: number }) => {
      this.memories.push(m);
      return { id: 'm', importance: m.importance ?? 1 };
    },
    recall: async (): Promise<RecalledMemory[]> => this.memories.map((m) => ({ id: 'm', kind: m.kind, text: m.text, importance: 1, createdAt: '', score: 1, recency: 1, relevance: 1 })),
  };
}

/** A policy whose decisions the test hands out by hand. */
class HandPolicy implements Policy {
  readonly name = 'llm' as const;
  pending: { resolve(d: Decision): void; reject(e: Error): void; signal: AbortSignal; input: DecideInput }[] = [];
  decide(input: DecideInput, signal: AbortSignal): Promise<Decision> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject, signal, input }));
  }
}

const talk = (text: string): Decision => ({ actions: [{ type: 'act', action: { type: 'talk', text } }], by: 'llm', model: 'embedded/default' });
const log = { lines: [] as string[], info(m: string) { this.lines.push(m); }, warn(m: string) { this.lines.push(`WARN ${m}`); } };

function setup(over: { reflectEvery?: number } = {}) {
  const rec = new Recorder();
  const clock = new ManualClock();
  const policy = new HandPolicy();
  const loop = new VillageLoop({ every: 1000, decisionTimeout: 500, policy, fallback: new RulesPolicy({ agent: 'baker', persona: '', home: 'home' }), world: rec.world, board: rec.board, memory: rec.memory, log, clock, ...over });
  return { rec, clock, policy, loop };
}

describe('village loop', () => {
  it('has one decision in flight: ticks while it runs start nothing', async () => {
    const { rec, policy, loop } = setup();
    const turn = loop.tick();
    await settle();
    expect(loop.tick()).toBeNull();
    expect(loop.tick()).toBeNull();
    expect(policy.pending).toHaveLength(1);
    expect(rec.calls).toEqual(['perceive']);
    policy.pending[0]!.resolve(talk('Good morning!'));
    await expect(turn).resolves.toMatchObject({ kind: 'acted', abandoned: false });
    expect(rec.acts).toEqual([{ type: 'talk', text: 'Good morning!' }]);
    expect(rec.declares).toEqual([{ policy: 'llm', model: 'embedded/default' }]);
    // Free again: the next tick decides anew.
    const second = loop.tick();
    expect(second).not.toBeNull();
    await settle();
    expect(policy.pending).toHaveLength(2);
    policy.pending[1]!.resolve(talk('Again'));
    await second;
    // The same policy and model are declared once, not every turn.
    expect(rec.declares).toHaveLength(1);
  });

  it('abandons a decision past its timeout, follows the rules that turn, and ignores the late answer', async () => {
    const { rec, clock, policy, loop } = setup();
    const turn = loop.tick()!;
    await settle();
    const slow = policy.pending[0]!;
    expect(slow.signal.aborted).toBe(false);
    await clock.advance(499);
    expect(loop.busy).toBe(true);
    await clock.advance(1);
    const outcome = await turn;
    expect(outcome).toMatchObject({ kind: 'acted', abandoned: true, decision: { by: 'rules', model: null, note: 'no decision within 500 ms' } });
    expect(slow.signal.aborted).toBe(true);
    // The rules' move home, and an activity that says why.
    expect(rec.moves).toEqual([{ to: 'home' }]);
    expect(rec.acts.at(-1)).toEqual({ type: 'do', activity: 'walking to the Home (on my routine: no decision within 500 ms)' });
    expect(rec.declares).toEqual([{ policy: 'rules', model: null }]);
    const before = JSON.stringify(rec);
    // The model answers late: nothing happens because of it.
    slow.resolve(talk('A late line nobody should hear'));
    await settle();
    expect(JSON.stringify(rec)).toBe(before);
    expect(rec.acts.some((a) => a.type === 'talk')).toBe(false);
  });

  it('falls back to the rules for a turn whose decision failed, and says why', async () => {
    const { rec, policy, loop } = setup();
    const turn = loop.tick()!;
    await settle();
    policy.pending[0]!.reject(new DecisionError("the model's answer is not a valid action (to: no such landmark)"));
    await expect(turn).resolves.toMatchObject({ kind: 'acted', abandoned: false, decision: { by: 'rules' } });
    expect(rec.acts.at(-1)).toMatchObject({ type: 'do', activity: expect.stringContaining('no such landmark') });
    expect(log.lines.some((l) => l.includes('following the rules policy this turn'))).toBe(true);
    // The next turn the model answers again: declared back to llm.
    const next = loop.tick()!;
    await settle();
    policy.pending[1]!.resolve(talk('Back'));
    await next;
    expect(rec.declares).toEqual([
      { policy: 'rules', model: null },
      { policy: 'llm', model: 'embedded/default' },
    ]);
  });

  it('does not decide for a villager that is frozen or quarantined', async () => {
    const { rec, policy, loop } = setup();
    rec.next = perception('baker', {}, { status: 'frozen' });
    await expect(loop.tick()).resolves.toEqual({ kind: 'skipped', reason: 'the villager is frozen' });
    expect(policy.pending).toHaveLength(0);
    expect(rec.calls).toEqual(['perceive']);
  });

  it('carries on with the rest of a decision when one action is refused', async () => {
    const { rec, policy, loop } = setup();
    rec.failMove = true;
    const turn = loop.tick()!;
    await settle();
    policy.pending[0]!.resolve({ actions: [{ type: 'move', move: { to: 'park' } }, { type: 'post', title: 'Who has seeds?', body: 'For the park', tags: [] }], by: 'llm', model: 'm' });
    await turn;
    expect(rec.posts).toEqual([{ title: 'Who has seeds?', body: 'For the park', tags: [] }]);
    expect(log.lines.some((l) => l.includes('move {"to":"park"} failed: no path to that tile'))).toBe(true);
  });

  it('remembers what it heard, the replies it got and what it did, and reflects now and then', async () => {
    const { rec, policy, loop } = setup({ reflectEvery: 2 });
    rec.next = perception('baker', {
      heard: [{ from: 'sam', text: 'The mill is open', tick: 1 }],
      replies: [{ postId: 'post_aaaaaaaaaaaaaaaaaaaaaaa', replyId: 'reply_1', author: 'human:alice', authorName: 'alice', body: 'Ask the miller' }],
    });
    for (let i = 0; i < 2; i++) {
      const t = loop.tick()!;
      await settle();
      policy.pending[i]!.resolve(talk(`line ${i}`));
      await t;
    }
    expect(rec.memories).toContainEqual({ kind: 'observation', text: 'sam said: The mill is open', importance: 4 });
    expect(rec.memories).toContainEqual({ kind: 'reply', text: 'alice replied to my post post_aaaaaaaaaaaaaaaaaaaaaaa: Ask the miller', importance: 6 });
    expect(rec.memories).toContainEqual({ kind: 'action', text: 'I said: line 0', importance: 3 });
    const reflections = rec.memories.filter((m) => m.kind === 'reflection');
    expect(reflections).toHaveLength(1);
    expect(reflections[0]).toMatchObject({ importance: 7, text: expect.stringContaining('sam said: The mill is open') });
  });

  it('reflects on what happened, never on its own earlier reflections ("Lately: Lately: ...")', async () => {
    const { rec, policy, loop } = setup({ reflectEvery: 1 });
    rec.next = perception('baker', { heard: [{ from: 'sam', text: 'The mill is open', tick: 1 }] });
    for (let i = 0; i < 4; i++) {
      const t = loop.tick()!;
      await settle();
      policy.pending[i]!.resolve(talk(`line ${i}`));
      await t;
    }
    const reflections = rec.memories.filter((m) => m.kind === 'reflection');
    expect(reflections).toHaveLength(4);
    for (const r of reflections) expect(r.text.match(/Lately:/g)).toHaveLength(1);
  });

  it('asks none of the questions it already has on the board, also after a restart', async () => {
    const rec = new Recorder();
    const persona = '## Questions\n- Who bakes rye?\n- Where is the mill?\n';
    rec.onBoard = ['Who bakes rye?']; // posted before the restart
    const mk = () => new RulesPolicy({ agent: 'baker', persona });
    const loop = new VillageLoop({ every: 1000, decisionTimeout: 500, policy: mk(), fallback: mk(), world: rec.world, board: rec.board, memory: rec.memory, log, clock: new ManualClock() });
    rec.next = perception('baker', { at: 'board' });
    for (let i = 0; i < 60; i++) await loop.tick();
    expect(rec.lists).toEqual(['agent:baker']); // once per life, not every turn
    expect(rec.posts.map((p) => p.title)).toEqual(['Where is the mill?']);
  });

  it('run() takes a turn every interval until stopped', async () => {
    const { rec, clock } = setup();
    const rules = new VillageLoop({ every: 1000, decisionTimeout: 500, policy: new RulesPolicy({ agent: 'baker', persona: '' }), fallback: new RulesPolicy({ agent: 'baker', persona: '' }), world: rec.world, board: rec.board, memory: rec.memory, log, clock });
    const stop = new AbortController();
    const running = rules.run(stop.signal);
    await settle();
    expect(rec.calls.filter((c) => c === 'perceive')).toHaveLength(1);
    await clock.advance(1000);
    expect(rec.calls.filter((c) => c === 'perceive')).toHaveLength(2);
    stop.abort();
    await running;
    await clock.advance(5000);
    expect(rec.calls.filter((c) => c === 'perceive')).toHaveLength(2);
  });
});

describe('village loop resilience', () => {
  it('survives a policy that throws even in its fallback, and tries again next tick', async () => {
    const rec = new Recorder();
    const broken: Policy = { name: 'rules', decide: () => Promise.reject(new Error('bug in a policy')) };
    const loop = new VillageLoop({ every: 1000, decisionTimeout: 500, policy: broken, fallback: broken, world: rec.world, board: rec.board, memory: rec.memory, log, clock: new ManualClock() });
    await expect(loop.tick()).resolves.toEqual({ kind: 'failed', error: 'bug in a policy' });
    expect(loop.busy).toBe(false);
    expect(loop.tick()).not.toBeNull();
  });
});
