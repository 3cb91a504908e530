import { instancePermissions, isReplySubjectOf, STREAMS, subjects } from '@aiflock/protocol';
import { describe, expect, it } from 'vitest';
import { agentImports, flockExports } from '../src/adapters/nats/accounts.js';
import { rpcAnswerSubject } from '../src/adapters/nats/nats-bus.js';

/**
 * Where the control plane answers an instance's RPC request: on the caller's own
 * `replies.<id>.<token>` when the request names exactly that, else on the server's reply
 * route. Whatever else a request names, the answer never goes there.
 */
const ME = 'scout-aaaa1111';
const ROUTE = '_R_.abc.def';

describe('the subject an RPC answer goes to', () => {
  it('is the caller’s own replies subject when the header names it', () => {
    expect(rpcAnswerSubject(ME, ROUTE, `${subjects.replies(ME)}.Zx9_-a`)).toEqual({ subject: `${subjects.replies(ME)}.Zx9_-a` });
    // Without a route too: the header is the reply (a request all the same, not a notification).
    expect(rpcAnswerSubject(ME, '', `${subjects.replies(ME)}.tok`)).toEqual({ subject: `${subjects.replies(ME)}.tok` });
  });

  it('is the route without a header (agents older than the header), and nothing for a notification', () => {
    expect(rpcAnswerSubject(ME, ROUTE, '')).toEqual({ subject: ROUTE });
    expect(rpcAnswerSubject(ME, '', '')).toEqual({ subject: '' });
  });

  it.each([
    ['another instance’s replies', 'replies.other-bbbb2222.tok'],
    ['an instance whose id only starts like the caller’s', `replies.${ME}x.tok`],
    ['a wildcard token', `${subjects.replies(ME)}.*`],
    ['a full wildcard', `${subjects.replies(ME)}.>`],
    ['every instance’s', 'replies.*.*'],
    ['all replies', 'replies.>'],
    ['two tokens', `${subjects.replies(ME)}.a.b`],
    ['no token', `${subjects.replies(ME)}.`],
    ['the prefix alone', subjects.replies(ME)],
    ['a token with a space', `${subjects.replies(ME)}.a b`],
    ['a token too long', `${subjects.replies(ME)}.${'a'.repeat(65)}`],
    ['the caller’s results (a stream captures them)', subjects.results(ME)],
    ['the task queue', subjects.tasks('scout')],
    ['another instance’s deliveries', `${subjects.deliveries('other-bbbb2222')}.1`],
    ['a control subject', subjects.control('other-bbbb2222')],
    ['the inbox', `${subjects.inbox(ME)}.x`],
  ])('is the route, never the header, when the header names %s', (_what, header) => {
    expect(isReplySubjectOf(ME, header)).toBe(false);
    expect(rpcAnswerSubject(ME, ROUTE, header)).toEqual({ subject: ROUTE, refused: header });
    // A notification naming one is still answered nowhere.
    expect(rpcAnswerSubject(ME, '', header).subject).toBe('');
  });

  it('never takes a wildcard caller for an instance', () => {
    expect(isReplySubjectOf('*', 'replies.*.tok')).toBe(false);
    expect(isReplySubjectOf('>', 'replies.>.tok')).toBe(false);
  });
});

describe('replies on the bus', () => {
  it('cross from the flock account to the agents account as a stream, and no flock stream captures them', () => {
    expect(flockExports()).toContainEqual({ name: 'replies.*.*', subject: 'replies.*.*', type: 'stream' });
    expect(agentImports('AFLOCK')).toContainEqual({ name: 'replies.*.*', subject: 'replies.*.*', account: 'AFLOCK', type: 'stream' });
    const captured: string[] = Object.values(STREAMS).flatMap((s) => [...s.subjects]);
    for (const c of captured) expect(c.startsWith('replies') || c === '>' || c.startsWith('*'), c).toBe(false);
  });

  it('an instance may read only its own and publish on none', () => {
    const p = instancePermissions(ME, 'scout');
    expect(p.sub.allow).toContain(`${subjects.replies(ME)}.*`);
    expect(p.sub.allow.filter((s) => s.startsWith('replies'))).toEqual([`${subjects.replies(ME)}.*`]);
    expect(p.pub.allow.filter((s) => s.startsWith('replies') || s === '>' || s.startsWith('*'))).toEqual([]);
  });
});
