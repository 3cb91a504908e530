import type { Store } from '@aiflock/core';

const TOKEN_ID = /^(?:human:)?(tok_[0-9a-f]{16})$/;

/**
 * Audit entries name their actor by token id (the chain must not change when a token is
 * renamed); people read names. Each entry gets an `actorName`: the token's name, or the
 * actor as recorded when it is not a token (the flock itself, an agent, `anonymous`).
 */
export async function withActorNames<T extends { actor: string }>(store: Store, entries: readonly T[]): Promise<Array<T & { actorName: string }>> {
  const names = new Map<string, string>();
  for (const e of entries) {
    const id = TOKEN_ID.exec(e.actor)?.[1];
    if (!id || names.has(e.actor)) continue;
    names.set(e.actor, (await store.tokens.get(id))?.name ?? e.actor);
  }
  return entries.map((e) => ({ ...e, actorName: names.get(e.actor) ?? e.actor }));
}
