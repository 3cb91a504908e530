import { FlockError } from '@aiflock/core';

/**
 * The Responses API keeps what a response said so the next request can point at it
 * (`previous_response_id`, or `item_reference` items, which the AI SDK sends by default for
 * earlier tool calls). The gateway keeps the last `limit` responses in memory, each readable
 * only by the caller that made it; a restart forgets them, and the error says to resend the
 * items instead.
 */
export type StoredItem = Record<string, unknown> & { type: string };

interface Remembered {
  owner: string;
  /** The conversation up to and including this response's output, as Responses items. */
  items: StoredItem[];
  /** Ids of this response's output items, forgotten with it. */
  itemIds: string[];
}

export class ResponseMemory {
  private readonly responses = new Map<string, Remembered>();
  private readonly items = new Map<string, { owner: string; item: StoredItem }>();

  constructor(private readonly limit = 1000) {}

  remember(id: string, owner: string, conversation: StoredItem[], output: StoredItem[]): void {
    const itemIds = output.map((o) => String(o['id']));
    this.responses.set(id, { owner, items: [...conversation, ...output], itemIds });
    for (const item of output) this.items.set(String(item['id']), { owner, item });
    // Oldest first out: a Map iterates in insertion order.
    for (const [oldId, old] of this.responses) {
      if (this.responses.size <= this.limit) break;
      this.responses.delete(oldId);
      for (const i of old.itemIds) this.items.delete(i);
    }
  }

  conversation(id: string, owner: string): StoredItem[] {
    const r = this.responses.get(id);
    if (!r || r.owner !== owner) throw forgotten(`previous_response_id "${id}"`, this.limit);
    return r.items;
  }

  item(id: string, owner: string): StoredItem {
    const i = this.items.get(id);
    if (!i || i.owner !== owner) throw forgotten(`item_reference "${id}"`, this.limit);
    return i.item;
  }
}

const forgotten = (what: string, limit: number) =>
  new FlockError('validation_failed', `${what} is not known: this flock keeps the last ${limit} responses of each daemon in memory (a restart forgets them); send the items themselves, or set store: false`, { reference: what });
