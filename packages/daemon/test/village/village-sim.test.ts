import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RulesPolicy, VillageLoop, type LoopClock } from '@aiflock/agent';
import { WorldEngine, parseManifest, type Manifest } from '@aiflock/core';
import type { ActionRequest, DeclarePolicy, MoveRequest, Perception } from '@aiflock/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAP, loadMap } from '../../src/world/load-map.js';

/**
 * The demo villagers of examples/village, each with its own loop and `rules` policy, living
 * in the real world engine on the shipped map, ticked by hand (a turn every 20 ticks, as 5 s
 * at the default 250 ms tick). Nothing here waits on a clock: the world advances when the
 * test says so. What they do must be what the engine accepts: every action refused by the
 * world would show as a warning, and there must be none.
 */
const EXAMPLES = join(import.meta.dirname, '..', '..', '..', '..', 'examples', 'village');
const NAMES = ['baker', 'gardener', 'scholar'];
const TURN_TICKS = 20;
const never: LoopClock = { sleep: () => new Promise<boolean>(() => undefined) };

async function manifest(name: string): Promise<Manifest> {
  return parseManifest(await readFile(join(EXAMPLES, `${name}.agent.md`), 'utf8'), `${name}.agent.md`).manifest;
}

async function village() {
  const { map } = await loadMap(DEFAULT_MAP);
  const engine = WorldEngine.create(map);
  const warnings: string[] = [];
  const posts: { by: string; title: string }[] = [];
  const replies: { by: string; postId: string; body: string }[] = [];
  const inbox = new Map<string, Perception['replies']>();
  const lastTick = new Map<string, number>();
  const loops = new Map<string, VillageLoop>();
  for (const name of NAMES) {
    const m = await manifest(name);
    engine.submit({ kind: 'join', name, policy: 'rules', model: null, home: m.village!.home ?? null, status: 'active' });
    const world = {
      perceive: async (): Promise<Perception> => {
        const view = engine.perceive(name, lastTick.get(name) ?? 0);
        lastTick.set(name, view.tick);
        const got = inbox.get(name) ?? [];
        inbox.delete(name);
        return { ...view, economy: { balanceCents: 0, tier: 0, tierName: 'free' }, replies: got };
      },
      move: async (move: MoveRequest) => {
        engine.submit({ kind: 'move', name, move });
        return { goal: null, path: 0 };
      },
      act: async (action: ActionRequest) => void engine.submit({ kind: 'act', name, action }),
      declare: async (d: DeclarePolicy) => void engine.submit({ kind: 'declare', name, ...d }),
    };
    const board = {
      post: async (p: { title: string }) => {
        posts.push({ by: name, title: p.title });
        return { id: `post_${String(posts.length).padStart(23, '0')}` } as never;
      },
      reply: async (r: { postId: string; body: string }) => {
        replies.push({ by: name, ...r });
        return {} as never;
      },
      list: async () => ({ posts: posts.filter((p) => p.by === name) as never[], next: null }),
    };
    const memory = { add: async () => ({ id: 'm', importance: 1 }), recall: async () => [] };
    const rules = new RulesPolicy({ agent: name, persona: m.persona, home: m.village!.home });
    const log = { info: () => undefined, warn: (msg: string) => void warnings.push(`${name}: ${msg}`) };
    loops.set(name, new VillageLoop({ every: m.village!.every, decisionTimeout: m.village!.decisionTimeout, policy: rules, fallback: rules, world, board, memory, log, clock: never }));
  }
  engine.advance();

  const said = new Set<string>();
  const start = new Map(engine.snapshot().villagers.map((v) => [v.name, `${v.x},${v.y}`]));
  const moved = new Set<string>();
  /** Advance `turns` turns of every villager, staggered as independent sandboxes would be. */
  async function live(turns: number): Promise<void> {
    for (let t = 0; t < turns * TURN_TICKS; t++) {
      const r = engine.advance();
      for (const o of r.outcomes) if (!o.ok) warnings.push(`refused by the world: ${o.error.message}`);
      for (const c of r.delta?.changes ?? []) {
        if (c.type === 'said') said.add(c.name);
        if (c.type === 'moved' && `${c.x},${c.y}` !== start.get(c.name)) moved.add(c.name);
      }
      for (const [i, name] of NAMES.entries()) if (t % TURN_TICKS === i * 7) await loops.get(name)!.tick();
    }
  }
  return { engine, warnings, posts, replies, inbox, said, moved, live };
}

describe('the demo villagers in the real world engine', () => {
  it('walk, meet and talk, and each posts a question within a few minutes of village time, with no action the world refuses', async () => {
    const v = await village();
    await v.live(40);
    expect([...v.moved].sort()).toEqual(NAMES);
    expect(v.said.size).toBeGreaterThan(0);
    expect([...new Set(v.posts.map((p) => p.by))].sort()).toEqual(NAMES);
    expect(v.warnings).toEqual([]);
  });

  it('a reply to a question reaches its author on the next turn, who thanks the person', async () => {
    const v = await village();
    await v.live(12);
    const asked = v.posts.find((p) => p.by === 'baker');
    expect(asked).toBeDefined();
    v.inbox.set('baker', [{ postId: 'post_00000000000000000000001', replyId: 'reply_1', author: 'human:alice', authorName: 'alice', body: 'Try the mill.' }]);
    await v.live(1);
    expect(v.replies).toEqual([{ by: 'baker', postId: 'post_00000000000000000000001', body: 'Thank you, alice! That helps; I will try it.' }]);
  });
});
