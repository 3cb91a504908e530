import { FlockError, type AuthorNames, type ComputeService, type PerceptionStore, type TierSpec } from '@aiflock/core';
import type { Perception } from '@aiflock/protocol';
import type { WorldHost } from './world-host.js';

const REPLIES_PER_PERCEPTION = 50;
/** Each lost compare-and-set means another perception of the same villager advanced; give up after this many. */
const ATTEMPTS = 8;

/**
 * What `world.perceive` answers: the engine's view of the villager plus its standing in the
 * economy and the replies to its board posts since it last looked. "Since it last looked" is
 * a cursor in the store, outside the world state: perceiving is a read and must not change
 * the world (or its replay), yet a daemon restart must neither drop nor repeat what a
 * villager was told.
 */
export class Perceiver {
  constructor(private readonly deps: { host: WorldHost; compute: ComputeService; names: AuthorNames; cursors: PerceptionStore; tiers: readonly TierSpec[] }) {}

  async perceive(agent: string): Promise<Perception> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const from = await this.deps.cursors.cursor(agent);
      const view = this.deps.host.engine.perceive(agent, from?.tick ?? 0);
      const e = await this.deps.compute.entitlementsFor(agent);
      const ranked = [...this.deps.tiers].sort((a, b) => a.minBalance - b.minBalance);
      const pending = await this.deps.cursors.repliesAfter(agent, from?.replySeq ?? 0, REPLIES_PER_PERCEPTION);
      const perception: Perception = {
        ...view,
        economy: { balanceCents: e.balance, tier: ranked.findIndex((t) => t.name === e.tier), tierName: e.tier },
        replies: await Promise.all(pending.map(async (r) => ({ postId: r.postId, replyId: r.replyId, author: r.author, authorName: await this.deps.names.of(r.author), body: r.body }))),
      };
      // Only a perception that was built moves the cursor; one that another perception
      // (a second replica) beat to it is built again from where that one left off, so each
      // heard line and reply goes to exactly one of them.
      const to = { tick: view.tick, replySeq: pending.at(-1)?.seq ?? from?.replySeq ?? 0 };
      if (await this.deps.cursors.advance(agent, from, to)) return perception;
    }
    throw new FlockError('internal', `the perception cursor of "${agent}" kept moving under ${ATTEMPTS} attempts`, { agent });
  }
}
