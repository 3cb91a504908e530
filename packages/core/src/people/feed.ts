import type { ChatMessageRecord } from '../ports/people-store.js';

/**
 * In-process notices for live readers: a chat message stored in a thread, a question
 * answered. Readers that miss one (another daemon process, a reconnect) read the store again.
 */
export class PeopleFeed {
  private readonly threads = new Map<string, Set<(m: ChatMessageRecord) => void>>();
  private readonly answers = new Map<string, Set<() => void>>();

  onThread(threadId: string, fn: (m: ChatMessageRecord) => void): () => void {
    return add(this.threads, threadId, fn);
  }

  message(m: ChatMessageRecord): void {
    for (const fn of this.threads.get(m.threadId) ?? []) fn(m);
  }

  onAnswer(questionId: string, fn: () => void): () => void {
    return add(this.answers, questionId, fn);
  }

  answered(questionId: string): void {
    for (const fn of this.answers.get(questionId) ?? []) fn();
  }
}

function add<T>(map: Map<string, Set<T>>, key: string, fn: T): () => void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(fn);
  return () => {
    set.delete(fn);
    if (!set.size) map.delete(key);
  };
}
