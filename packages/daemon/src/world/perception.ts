import type { BoardEvent, BoardService, ComputeService, Store, TierSpec } from '@aiflock/core';
import type { Perception } from '@aiflock/protocol';
import type { WorldHost } from './world-host.js';

const INBOX_KEPT = 50;
type Reply = Perception['replies'][number];

/**
 * What `world.perceive` answers: the engine's view of the villager plus its standing in the
 * economy and the replies to its board posts since it last looked. "Since it last looked" is
 * kept here, per agent, outside the world state: perceiving is a read and must not change the
 * world (or its replay).
 */
export class Perceiver {
  private readonly lastTick = new Map<string, number>();
  private readonly inbox = new Map<string, Reply[]>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly deps: { host: WorldHost; compute: ComputeService; board: BoardService; store: Store; tiers: readonly TierSpec[]; log: (level: 'warn', msg: string) => void },
  ) {
    this.unsubscribe = deps.board.subscribe((e) => void this.onBoard(e).catch((err: unknown) => deps.log('warn', `world inbox: ${String(err)}`)));
  }

  close(): void {
    this.unsubscribe();
  }

  async perceive(agent: string): Promise<Perception> {
    const view = this.deps.host.engine.perceive(agent, this.lastTick.get(agent) ?? 0);
    this.lastTick.set(agent, view.tick);
    const e = await this.deps.compute.entitlementsFor(agent);
    const ranked = [...this.deps.tiers].sort((a, b) => a.minBalance - b.minBalance);
    const replies = this.inbox.get(agent) ?? [];
    this.inbox.delete(agent);
    return { ...view, economy: { balanceCents: e.balance, tier: ranked.findIndex((t) => t.name === e.tier), tierName: e.tier }, replies };
  }

  /** Replies by others to an agent's posts wait here for its next perception. */
  private async onBoard(e: BoardEvent): Promise<void> {
    if (e.type !== 'reply') return;
    const post = await this.deps.store.board.getPost(e.reply.postId);
    if (!post || post.authorType !== 'agent' || e.reply.authorId === post.authorId) return;
    const agent = post.authorId.replace(/^agent:/, '');
    if (!this.deps.host.engine.has(agent)) return;
    const box = this.inbox.get(agent) ?? [];
    box.push({ postId: post.id, replyId: e.reply.id, author: e.reply.authorId, body: e.reply.body });
    if (box.length > INBOX_KEPT) box.shift();
    this.inbox.set(agent, box);
  }
}
