/**
 * Where each villager's perception left off, kept outside the world state (perceiving is a
 * read and must not change the world or its replay) but durable, so a daemon restart neither
 * drops nor repeats what a villager was told.
 */
export interface PerceptionCursor {
  /** The world tick of its last perception: what it heard up to then was delivered. */
  tick: number;
  /** The `seq` of the last board reply delivered to it (0: none yet). */
  replySeq: number;
}

/**
 * A reply to one of the villager's posts, by someone else. `seq` numbers replies in the
 * order they become visible to readers (not by id or time, which a concurrent or
 * same-millisecond insert can undercut), so a reader past `seq` N never later finds a new
 * reply below N.
 */
export interface PendingReply {
  seq: number;
  postId: string;
  replyId: string;
  author: string;
  body: string;
}

export interface PerceptionStore {
  cursor(agent: string): Promise<PerceptionCursor | undefined>;
  /** Replies by others to posts authored by `agent:<agent>`, with `seq` above `afterSeq`, oldest first. */
  repliesAfter(agent: string, afterSeq: number, limit: number): Promise<PendingReply[]>;
  /**
   * Compare-and-set: moves the agent's cursor from `from` (undefined: it has none yet) to
   * `to`. False when another perception moved it first; nothing is changed then.
   */
  advance(agent: string, from: PerceptionCursor | undefined, to: PerceptionCursor): Promise<boolean>;
  /** Brings every cursor past `tick` back to it (the world resumed at an earlier tick); replies untouched. */
  rewindTicks(tick: number): Promise<void>;
}
