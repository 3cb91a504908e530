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

/** How far back a starting daemon looks for board posts to agents it may have missed. */
const CATCH_UP_WINDOW_MS = 24 * 3600_000;

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
  const stop = router.start();
  const since = new Date(clock.now().getTime() - CATCH_UP_WINDOW_MS).toISOString();
  void router
    .catchUp(since)
    .then((n) => n > 0 && log('info', `posted ${n} board answer(s) that finished while the daemon was down`))
    .catch((err: unknown) => log('error', `catching up on board posts failed: ${String(err)}`));
  return { chat, questions, feed, board: router, stop };
}
