import { describe, expect, it } from 'vitest';
import type { Perception } from '@aiflock/protocol';
import { RulesPolicy, parsePersona, type Decision } from '../../src/index.js';
import { LANDMARKS, perception } from './fixtures.js';

const BAKER = `You are Bea, the village baker.

## Route
market, cafe, park

## Questions
- Who knows where to find rye flour?
- Should the café sell my bread?

## Sayings
- Fresh bread today!
`;

/** A scripted day: walking, arriving, meeting people, hearing them, getting replies. */
function day(name: string): Perception[] {
  const out: Perception[] = [];
  for (let i = 0; i < 40; i++) {
    const at = i % 5 === 0 ? null : LANDMARKS[i % LANDMARKS.length]!.name;
    const nearby = i % 7 === 3 ? [{ name: 'sam', x: 3, y: 3, activity: 'reading' }] : [];
    const heard = i % 11 === 4 ? [{ from: 'sam', text: 'Morning!', tick: i }] : [];
    const replies = i === 17 ? [{ postId: 'post_aaaaaaaaaaaaaaaaaaaaaaa', replyId: 'reply_1', author: 'human:tok_0123456789abcdef', authorName: 'alice', body: 'Try the mill.' }] : [];
    out.push(perception(name, { tick: i, at, nearby, heard, replies }, { goal: i % 3 === 0 ? null : { x: 11, y: 3 } }));
  }
  return out;
}

const run = (p: RulesPolicy, ps: Perception[]): Decision[] => ps.map((x) => p.next(x));

describe('rules policy', () => {
  it('is deterministic: the same seed and perceptions give the same decisions', () => {
    const a = run(new RulesPolicy({ agent: 'baker', persona: BAKER, home: 'home' }), day('baker'));
    const b = run(new RulesPolicy({ agent: 'baker', persona: BAKER, home: 'home' }), day('baker'));
    expect(a).toEqual(b);
    expect(a.every((d) => d.by === 'rules' && d.model === null)).toBe(true);
    // It does several kinds of things over a day, not one.
    const kinds = new Set(a.flatMap((d) => d.actions.map((x) => (x.type === 'act' ? x.action.type : x.type))));
    expect([...kinds].sort()).toEqual(['do', 'move', 'post', 'reply', 'talk', 'use_board']);
  });

  it('orders an unrouted persona by its seed: different villagers walk different rounds', () => {
    const firstMoves = (agent: string) => {
      const p = new RulesPolicy({ agent, persona: '' });
      const targets: string[] = [];
      // Arrive at each target in turn (linger once), never due to post: count only route moves.
      let at: string | null = null;
      for (let i = 0; i < 30 && targets.length < 5; i++) {
        const d = p.next(perception(agent, { at }));
        for (const a of d.actions) if (a.type === 'move' && 'to' in a.move && a.move.to !== 'board') targets.push(a.move.to);
        const moved = d.actions.find((a) => a.type === 'move');
        at = moved && moved.type === 'move' && 'to' in moved.move ? moved.move.to : at;
      }
      return targets;
    };
    expect(firstMoves('gardener')).toEqual(firstMoves('gardener'));
    const orders = new Set(['gardener', 'scholar', 'baker', 'smith', 'miller'].map((n) => firstMoves(n).join(',')));
    expect(orders.size).toBeGreaterThan(1);
  });

  it('walks its persona route from home, lingering one turn at each landmark', () => {
    const p = new RulesPolicy({ agent: 'baker', persona: BAKER.replace(/## Questions[\s\S]*/, ''), home: 'home', seed: 'no-post-soon' });
    expect(parsePersona('baker', BAKER).route).toEqual(['market', 'cafe', 'park']);
    const first = p.next(perception('baker'));
    expect(first.actions[0]).toEqual({ type: 'move', move: { to: 'home' } });
    // Still walking there: nothing new to do.
    expect(p.next(perception('baker', {}, { goal: LANDMARKS[0]!.entry })).actions).toEqual([]);
    const arrived = p.next(perception('baker', { at: 'home' }));
    expect(arrived.actions).toEqual([{ type: 'act', action: { type: 'do', activity: 'resting at the Home' } }]);
  });

  it('goes to the board when a question is due and posts one of its questions there', () => {
    const p = new RulesPolicy({ agent: 'baker', persona: BAKER, home: 'home' });
    let posted: Decision | undefined;
    let wentToBoard = false;
    for (let i = 0; i < 6 && !posted; i++) {
      const d = p.next(perception('baker', { at: wentToBoard ? 'board' : 'home' }));
      if (d.actions.some((a) => a.type === 'move' && 'to' in a.move && a.move.to === 'board')) wentToBoard = true;
      if (d.actions.some((a) => a.type === 'post')) posted = d;
    }
    expect(wentToBoard).toBe(true);
    expect(posted!.actions[0]).toEqual({ type: 'act', action: { type: 'use_board' } });
    const post = posted!.actions[1]!;
    expect(post.type === 'post' && parsePersona('baker', BAKER).questions.includes(post.title)).toBe(true);
    expect(post).toMatchObject({ tags: ['question'], body: expect.stringContaining('asked by Bea') });
  });

  it('thanks each reply to its posts once, naming the author, and ignores its own replies', () => {
    const p = new RulesPolicy({ agent: 'baker', persona: BAKER });
    const postId = 'post_aaaaaaaaaaaaaaaaaaaaaaa';
    const replies = [
      { postId, replyId: 'reply_a', author: 'human:tok_0123456789abcdef', authorName: 'alice', body: 'Try the mill by the river.' },
      { postId, replyId: 'reply_b', author: 'agent:baker', authorName: 'baker', body: 'Thank you!' },
    ];
    const d = p.next(perception('baker', { replies }));
    expect(d.actions.filter((a) => a.type === 'reply')).toEqual([{ type: 'reply', postId, body: 'Thank you, alice! That helps; I will try it.' }]);
    const again = p.next(perception('baker', { replies }));
    expect(again.actions.some((a) => a.type === 'reply')).toBe(false);
  });

  it('greets a neighbour by the name the village knows it by, answers someone who spoke to it, and does not chatter every turn', () => {
    const p = new RulesPolicy({ agent: 'baker', persona: BAKER, seed: 'x' });
    const sam = { name: 'sam', displayName: 'Sam', x: 3, y: 3, activity: 'reading' };
    const greet = p.next(perception('baker', { nearby: [sam] }));
    expect(greet.actions).toEqual([{ type: 'act', action: { type: 'talk', to: 'sam', text: 'Hello Sam, it is Bea. Fresh bread today!' } }]);
    // Sam keeps talking: Bea just spoke, so for the next two turns she gets on with her day.
    for (const tick of [2, 3]) {
      const quiet = p.next(perception('baker', { nearby: [sam], heard: [{ from: 'sam', text: 'Hi Bea', tick }] }));
      expect(quiet.actions.some((a) => a.type === 'act' && a.action.type === 'talk')).toBe(false);
    }
    const later = p.next(perception('baker', { nearby: [sam], heard: [{ from: 'sam', text: 'Still there?', tick: 4 }] }));
    expect(later.actions).toEqual([{ type: 'act', action: { type: 'talk', to: 'sam', text: 'Nice to hear from you, Sam. Fresh bread today!' } }]);
    // Someone seen but out of earshot is not greeted (the world would refuse the line).
    const seen = new RulesPolicy({ agent: 'baker', persona: BAKER, seed: 'x' });
    const far7 = seen.next(perception('baker', { nearby: [{ name: 'tom', x: 9, y: 3, activity: '' }] }));
    expect(far7.actions.some((a) => a.type === 'act' && a.action.type === 'talk')).toBe(false);
    // Someone who is not near cannot be answered.
    const far = p.next(perception('baker', { heard: [{ from: 'tom', text: 'Hey', tick: 4 }] }));
    expect(far.actions.some((a) => a.type === 'act' && a.action.type === 'talk')).toBe(false);
  });
});
