import { BoardRouter, ChatService, HumanQuestions, PeopleFeed, mountHumanOps, personNames, type BoardService, type Clock, type RpcRouter, type Store, type TaskRecord, type TaskService } from '@aiflock/core';
import type { logFn } from './logger.js';

export interface PeopleSetup {
  chat: ChatService;
  questions: HumanQuestions;
  feed: PeopleFeed;
  board: BoardRouter;
  /** Stop routing board posts to agents. */
  stop(): void;
}

/**
 * Talking with people: direct chat threads, agents' questions (`human.ask|wait` on the bus)
 * and board posts addressed to agents. Finished tasks are handed back to where they came from.
 */
export function setupPeople(deps: {
  store: Store;
  clock: Clock;
  tasks: TaskService;
  board: BoardService;
  rpc: RpcRouter;
  log: ReturnType<typeof logFn>;
  whenTaskFinished(fn: (task: TaskRecord) => void): void;
}): PeopleSetup {
  const { store, clock, tasks, board, log } = deps;
  const feed = new PeopleFeed();
  const nameOf = personNames(store);
  const questions = new HumanQuestions({ store, clock, board, feed, nameOf, log });
  const chat = new ChatService({ store, clock, tasks, questions, feed, nameOf });
  const router = new BoardRouter({ store, board, tasks, questions, log });
  mountHumanOps(deps.rpc, questions);
  deps.whenTaskFinished((t) => {
    void chat.taskFinished(t).catch((err: unknown) => log('error', `appending the answer of task ${t.id} to its chat thread failed: ${String(err)}`));
    void router.taskFinished(t).catch((err: unknown) => log('error', `replying with the answer of task ${t.id} failed: ${String(err)}`));
  });
  return { chat, questions, feed, board: router, stop: router.start() };
}
