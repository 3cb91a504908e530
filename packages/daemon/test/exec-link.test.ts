import { afterEach, describe, expect, it } from 'vitest';
import type { NodeExecFrame, NodeExecInput, NodeExecOutput } from '@aiflock/protocol';
import { ExecLink, type ExecLinkTiming } from '../src/nodes/exec-link.js';

/**
 * The exec session's delivery rules between two links wired to each other through a lossy,
 * reordering wire (as core NATS is across a reconnect): everything arrives once and in order,
 * no more than the window is ever unacknowledged, and a reader who is behind is not sent the
 * same frames again and again.
 */
const TIMING: ExecLinkTiming = { window: 4, pingMs: 100, deadMs: 5_000, resendMs: 150 };
const links: ExecLink<never, never>[] = [];
afterEach(() => links.splice(0).forEach((l) => l.close()));

function wired(opts: { drop?: (f: NodeExecFrame, n: number) => boolean; take?: () => boolean } = {}) {
  const got: string[] = [];
  const sent: NodeExecFrame[] = [];
  let n = 0;
  const peers: { node?: ExecLink<NodeExecOutput, NodeExecInput>; cp?: ExecLink<NodeExecInput, NodeExecOutput> } = {};
  // The wire hands frames over later, in a shuffled order within each turn.
  const later = (to: () => ExecLink<never, never>) => (f: NodeExecFrame) => {
    sent.push(f);
    if (opts.drop?.(f, n++)) return;
    setTimeout(() => to().receive(f), Math.random() * 5);
  };
  const node = new ExecLink<NodeExecOutput, NodeExecInput>(later(() => peers.cp as never), { deliver: () => true, onDead: () => undefined }, TIMING);
  const cp = new ExecLink<NodeExecInput, NodeExecOutput>(later(() => peers.node as never), {
    deliver: (f) => {
      if (opts.take && !opts.take()) return false;
      if (f.k === 'stdout') got.push(Buffer.from(f.data, 'base64').toString());
      return true;
    },
    onDead: () => undefined,
  }, TIMING);
  Object.assign(peers, { node, cp });
  links.push(node as never, cp as never);
  return { node, cp, got, sent };
}

const until = async (check: () => boolean, what: string) => {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('ExecLink', () => {
  it('delivers every frame once and in order over a wire that loses and reorders them', async () => {
    // Every third data frame is lost the first time it is sent.
    const lost = new Set<number>();
    const { node, got } = wired({ drop: (f) => f.k === 'stdout' && f.seq % 3 === 0 && !lost.has(f.seq) && lost.add(f.seq) !== undefined });
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
    for (const l of lines) node.send({ k: 'stdout', data: Buffer.from(l).toString('base64') });
    await until(() => got.length === lines.length, 'every line');
    expect(got).toEqual(lines);
    expect(lost.size).toBeGreaterThan(5);
    await until(() => node.idle, 'everything acknowledged');
  });

  it('never has more than the window unacknowledged, and does not resend to a reader who holds them', async () => {
    let reading = false;
    const { node, cp, got, sent } = wired({ take: () => reading });
    for (let i = 0; i < 20; i++) node.send({ k: 'stdout', data: Buffer.from(`c${i}`).toString('base64') });
    await until(() => sent.filter((f) => f.k === 'stdout').length >= TIMING.window, 'a window sent');
    // Several resend periods with the reader behind: the window, once, and nothing beyond it.
    await new Promise((r) => setTimeout(r, TIMING.resendMs * 5));
    const data = sent.filter((f): f is Extract<NodeExecFrame, { k: 'stdout' | 'stderr' }> => f.k === 'stdout');
    expect(data.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
    expect(node.backlog).toBe(16);
    reading = true;
    // The reader catches up once its holder flushes (as a listener arriving, or resume, does).
    cp.flush();
    await until(() => got.length === 20, 'all twenty');
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
  });

  it('says the other side is gone after its silence', async () => {
    let dead = false;
    const quiet = new ExecLink<NodeExecOutput, NodeExecInput>(() => undefined, { deliver: () => true, onDead: () => (dead = true) }, { ...TIMING, deadMs: 300 });
    links.push(quiet as never);
    await until(() => dead, 'the other side declared gone');
  });
});
