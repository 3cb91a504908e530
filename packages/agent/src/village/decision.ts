import type { ActionRequest, MoveRequest, Perception, VillagePolicy } from '@aiflock/protocol';

/** One thing the loop does for a decision, in order: world moves and actions, board posts and replies. */
export type VillageAction =
  | { type: 'move'; move: MoveRequest }
  | { type: 'act'; action: ActionRequest }
  | { type: 'post'; title: string; body: string; tags: string[] }
  | { type: 'reply'; postId: string; body: string };

export interface Decision {
  actions: VillageAction[];
  /** Which policy produced it (an `llm` villager's turn may have fallen back to `rules`). */
  by: VillagePolicy;
  /** The model that answered, for `llm` decisions. */
  model: string | null;
  /** Why this turn fell back, said in the villager's activity and log. */
  note?: string;
}

export interface DecideInput {
  perception: Perception;
  /** The villager's memories most relevant to a query (empty when the memory plane is unavailable). */
  recall(query: string): Promise<string[]>;
}

/**
 * How a villager decides. `decide` may take long (a model call); the loop abandons it after
 * the decision timeout by aborting `signal`, and never acts on an answer that comes later.
 */
export interface Policy {
  readonly name: VillagePolicy;
  decide(input: DecideInput, signal: AbortSignal): Promise<Decision>;
  /**
   * Titles this villager has already posted on the board (from the board at start, so a
   * restart does not ask the same question again). The policy asks none of them again.
   */
  alreadyAsked?(titles: readonly string[]): void;
  /** A short reflection on recent memories, or null to let the loop write an extractive one. */
  reflect?(memories: string[], signal: AbortSignal): Promise<string | null>;
}

/** A decision this policy could not make (no model, an answer that is not a valid action). */
export class DecisionError extends Error {
  override name = 'DecisionError';
}
