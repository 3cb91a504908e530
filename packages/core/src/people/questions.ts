import type { HumanAskReply, HumanAskRpc, HumanWaitReply } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { newSortableId } from '../ids.js';
import type { BoardService } from '../board/board-service.js';
import type { Clock } from '../ports/clock.js';
import type { ChatMessageRecord, QuestionRecord } from '../ports/people-store.js';
import type { Store, TaskRecord } from '../ports/store.js';
import type { RpcCaller } from '../rpc/router.js';
import type { PeopleFeed } from './feed.js';
import { deadlinePausedFor, originOf } from './threads.js';

/** Who answers: a person (token id) with or without admin rights. */
export interface Answerer {
  id: string;
  admin: boolean;
}

/** How the answer arrived; the channel it came by already shows it, the others are told. */
export type AnswerVia = 'api' | 'chat' | 'board';

export interface QuestionDeps {
  store: Store;
  clock: Clock;
  board: BoardService;
  feed: PeopleFeed;
  /** A person's display name (their token's name). */
  nameOf(personId: string): Promise<string>;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

/**
 * `ask_human`: an agent's loop asks a person and its task waits (`waiting_for_human`) until
 * someone answers, through the API, the task's chat thread or its board post. The question
 * goes where the task came from, else to the board for the agent's owner. With the
 * manifest's `tools.askHuman.pauseDeadline` the deadline stops while waiting: the sweeper
 * leaves the task alone and the answer moves the deadline by the time waited.
 */
export class HumanQuestions {
  constructor(private readonly deps: QuestionDeps) {}

  /** `human.ask` from an instance: asks once per (task, tool call), however often retried. */
  async ask(caller: RpcCaller, input: HumanAskRpc): Promise<HumanAskReply> {
    const { store, clock } = this.deps;
    const task = await this.callersTask(caller, input.taskId);
    const deployment = await store.deployments.get(task.agent);
    if (!deployment?.manifest.tools.askHuman) {
      throw new FlockError('forbidden', `agent "${task.agent}" does not enable tools.askHuman in its manifest, so it may not ask people`, { agent: task.agent });
    }
    const origin = originOf(task);
    const record: QuestionRecord = {
      id: newSortableId('q', clock.now()),
      taskId: task.id,
      callId: input.callId,
      agent: task.agent,
      question: input.question,
      where: origin?.kind ?? 'owner',
      threadId: origin?.kind === 'chat' ? origin.threadId : null,
      postId: origin?.kind === 'board' ? origin.postId : null,
      pauseDeadline: deployment.manifest.tools.askHuman.pauseDeadline,
      askedAt: clock.now().toISOString(),
      answer: null,
      answeredBy: null,
      answeredAt: null,
    };
    const { inserted, question } = await store.people.questions.insert(record);
    if (inserted) {
      const postId = await this.deliver(task, question, origin);
      if (postId !== question.postId) question.postId = postId;
      await this.waitingStatus(task.id);
    }
    return { questionId: question.id, pauseDeadline: question.pauseDeadline, where: question.where };
  }

  /** `human.wait`: the answer once given; holds up to `waitMs` for it, so the agent asks again rarely. */
  async wait(caller: RpcCaller, input: { questionId: string; waitMs: number }): Promise<HumanWaitReply> {
    const q = await this.deps.store.people.questions.get(input.questionId);
    if (!q || q.agent !== caller.agent) throw new FlockError('validation_failed', `questionId: no question ${input.questionId} of agent ${caller.agent}`, { field: 'questionId' });
    if (q.answeredAt === null && input.waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, input.waitMs);
        const off = this.deps.feed.onAnswer(q.id, done);
        function done() {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    }
    const now = await this.deps.store.people.questions.get(q.id);
    if (!now?.answeredAt) return { answered: false };
    const task = await this.deps.store.tasks.get(q.taskId);
    return { answered: true, answer: now.answer ?? '', answeredBy: await this.displayName(now.answeredBy), deadline: task?.deadline ?? new Date(0).toISOString() };
  }

  /**
   * A person answers the question task `taskId` waits on. Refused when the task is not
   * waiting, or when the question is in someone else's chat thread.
   */
  async answer(by: Answerer, taskId: string, text: string, via: AnswerVia): Promise<QuestionRecord> {
    const { store, clock } = this.deps;
    const task = await store.tasks.get(taskId);
    if (!task) throw new FlockError('task_not_found', `no task with id "${taskId}"`, { taskId });
    const open = task.status === 'waiting_for_human' ? await store.people.questions.openFor(taskId) : undefined;
    if (!open) throw new FlockError('task_not_waiting', `task ${taskId} is ${task.status}, not waiting for an answer`, { status: task.status });
    const threadPerson = await this.threadPerson(task);
    if (threadPerson !== null && threadPerson !== by.id && !by.admin) {
      throw new FlockError('forbidden', `task ${taskId} asks its question in another person's chat thread; only they (or an admin) may answer`, { taskId });
    }
    const now = clock.now();
    const answered = await store.people.questions.answer(open.id, { answer: text, answeredBy: by.id, answeredAt: now.toISOString() });
    if (!answered) throw new FlockError('task_not_waiting', `the question of task ${taskId} was answered already`, { questionId: open.id });
    const waited = Math.max(0, now.getTime() - Date.parse(open.askedAt));
    await store.tasks.transition(taskId, ['waiting_for_human'], {
      status: 'running',
      ...(open.pauseDeadline ? { deadline: new Date(Date.parse(task.deadline) + waited).toISOString() } : {}),
    });
    await store.logs.append([
      { ts: now.toISOString(), level: 'info', msg: `question answered by ${await this.deps.nameOf(by.id)} after ${Math.round(waited / 1000)} s${open.pauseDeadline ? '; the deadline moved by as much' : ''}`, agent: task.agent, instanceId: task.instanceId ?? '-', taskId },
    ]);
    await this.echo(by, task, answered, via);
    this.deps.feed.answered(open.id);
    return answered;
  }

  /** The question a task waits on in this thread or post (an unanswered question of a task that ended waits for nobody). */
  async waitingIn(where: { threadId: string } | { postId: string }): Promise<QuestionRecord | undefined> {
    const open = await this.deps.store.people.questions.openIn(where);
    return open && (await this.deps.store.tasks.get(open.taskId))?.status === 'waiting_for_human' ? open : undefined;
  }

  /** For the sweeper: a waiting task whose deadline stands still. */
  get deadlinePaused(): (taskId: string) => Promise<boolean> {
    return deadlinePausedFor(this.deps.store);
  }

  private async callersTask(caller: RpcCaller, taskId: string): Promise<TaskRecord> {
    const task = await this.deps.store.tasks.get(taskId);
    if (!task || task.agent !== caller.agent) throw new FlockError('validation_failed', `taskId: no task ${taskId} of agent ${caller.agent}`, { field: 'taskId' });
    if (task.status !== 'running' && task.status !== 'waiting_for_human' && task.status !== 'queued') {
      throw new FlockError('validation_failed', `taskId: task ${taskId} is ${task.status}; only a running task may ask`, { field: 'taskId', status: task.status });
    }
    return task;
  }

  /** The task is now waiting. Its start event may not be recorded yet (events are a separate stream): wait a little for it. */
  private async waitingStatus(taskId: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (await this.deps.store.tasks.transition(taskId, ['running'], { status: 'waiting_for_human' })) return;
      const t = await this.deps.store.tasks.get(taskId);
      if (t?.status !== 'queued') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Put the question where people will see it; returns the post it went to, if any. */
  private async deliver(task: TaskRecord, q: QuestionRecord, origin: ReturnType<typeof originOf>): Promise<string | null> {
    const { store, board } = this.deps;
    const agent = { kind: 'agent' as const, name: task.agent };
    if (origin?.kind === 'chat') {
      const asked = await store.people.chat.get(origin.messageId);
      await this.chatMessage({ threadId: origin.threadId, agent: task.agent, person: asked?.person ?? '', role: 'agent', kind: 'question', text: q.question, taskId: task.id });
      return null;
    }
    if (origin?.kind === 'board') {
      await board.reply(agent, { postId: origin.postId, body: `Question: ${q.question}\n\n(Reply to this post to answer; task ${task.id} waits for it.)` });
      return origin.postId;
    }
    const owner = (await store.deployments.get(task.agent))?.owner;
    const to = owner ? await this.deps.nameOf(owner) : 'my owner';
    const post = await board.createPost(agent, {
      title: `Question from ${task.agent} for ${to}`.slice(0, 200),
      body: `${q.question}\n\n(Reply to this post to answer; task ${task.id} waits for it.)`,
      tags: ['question'],
      audience: 'humans',
    });
    // The post is the question's place now: a reply to it answers.
    await store.people.questions.placeOn(q.id, post.id);
    return post.id;
  }

  private async chatMessage(m: Omit<ChatMessageRecord, 'id' | 'createdAt'>): Promise<ChatMessageRecord> {
    const now = this.deps.clock.now();
    const record: ChatMessageRecord = { id: newSortableId('msg', now), createdAt: now.toISOString(), ...m };
    await this.deps.store.people.chat.append(record);
    this.deps.feed.message(record);
    return record;
  }

  /** Show an answer given elsewhere in the question's own place (its thread or post). */
  private async echo(by: Answerer, task: TaskRecord, q: QuestionRecord, via: AnswerVia): Promise<void> {
    if (via === 'api' && q.threadId) {
      await this.chatMessage({ threadId: q.threadId, agent: task.agent, person: by.id, role: 'person', kind: 'message', text: q.answer ?? '', taskId: task.id });
    } else if (via !== 'board' && q.postId) {
      await this.deps.board.reply({ kind: by.admin ? 'admin' : 'human', id: by.id }, { postId: q.postId, body: q.answer ?? '' }).catch((err: unknown) => {
        this.deps.log('warn', `could not copy the answer of task ${task.id} to post ${q.postId}: ${String(err)}`);
      });
    }
  }

  private async threadPerson(task: TaskRecord): Promise<string | null> {
    const origin = originOf(task);
    if (origin?.kind !== 'chat') return null;
    return (await this.deps.store.people.chat.get(origin.messageId))?.person ?? null;
  }

  private async displayName(id: string | null): Promise<string> {
    if (!id) return 'someone';
    return id.startsWith('human:') ? this.deps.nameOf(id.slice(6)) : this.deps.nameOf(id);
  }
}
