import { AGENT_TASK_TYPE, type AgentTaskInput } from '@aiflock/protocol';
import { mayRunTasks } from '../auth/task-access.js';
import { isTerminal } from '../task/lifecycle.js';
import type { BoardEvent, BoardService } from '../board/board-service.js';
import type { PostRecord } from '../ports/board.js';
import type { Store, TaskRecord } from '../ports/store.js';
import type { TaskService } from '../services/tasks.js';
import type { HumanQuestions } from './questions.js';
import { originOf } from './threads.js';

const AGENT_AUDIENCE = /^agent:(.+)$/;

/**
 * The board as a way to talk to an agent: a person's post addressed to `agent:<name>`
 * becomes one `agent` task for it (keyed by the post, so never two), its answer is posted
 * as the agent's reply, and a person's reply on a post whose task waits on a question is
 * the answer to it.
 */
export class BoardRouter {
  constructor(
    private readonly deps: {
      store: Store;
      board: BoardService;
      tasks: TaskService;
      questions: HumanQuestions;
      log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
    },
  ) {}

  /** Subscribe to the board; returns the unsubscribe. */
  start(): () => void {
    return this.deps.board.subscribe((e) => void this.onEvent(e).catch((err: unknown) => this.deps.log('error', `board routing failed: ${String(err)}`)));
  }

  readonly onEvent = async (e: BoardEvent): Promise<void> => {
    if (e.type === 'post') await this.route(e.post);
    else if (e.type === 'reply' && e.reply.authorType === 'human') {
      const open = await this.deps.questions.waitingIn({ postId: e.reply.postId });
      if (!open) return;
      const person = e.reply.authorId.replace(/^human:/, '');
      await this.deps.questions.answer({ id: person, admin: false }, open.taskId, e.reply.body, 'board').catch((err: unknown) => this.deps.log('warn', `a reply on post ${e.reply.postId} did not answer task ${open.taskId}: ${String(err)}`));
    }
  };

  /** A person's post to an agent that runs the loop: queue it once. Posts to other agents stay posts. */
  async route(post: PostRecord): Promise<TaskRecord | null> {
    const agent = AGENT_AUDIENCE.exec(post.audience)?.[1];
    if (!agent || post.authorType !== 'human') return null;
    const deployment = await this.deps.store.deployments.get(agent);
    if (!deployment?.manifest.handlers.includes(AGENT_TASK_TYPE) || deployment.state === 'stopped') return null;
    // Only a post by someone who may run the agent's tasks drives its loop (its tools and
    // secrets are at stake); anyone else's stays a post the agent can read.
    if (!mayRunTasks({ id: post.authorId.replace(/^human:/, ''), scopes: [] }, deployment)) {
      this.deps.log('info', `post ${post.id} to agent ${agent} is by someone who may not run its tasks (access.runTasks): not queued`, { postId: post.id });
      return null;
    }
    const input: AgentTaskInput = { goal: `${post.title}\n\n${post.body}`, history: [], origin: { kind: 'board', postId: post.id } };
    const { task, created } = await this.deps.tasks.create({ agent, type: AGENT_TASK_TYPE, input }, `board:${post.id}`);
    if (created) this.deps.log('info', `post ${post.id} queued as task ${task.id} for agent ${agent}`, { postId: post.id, taskId: task.id });
    return (await this.deps.store.tasks.get(task.id)) ?? null;
  }

  /**
   * What a daemon that stopped (or crashed) may have missed, run once at start: a post stored
   * just before it went down was never routed, and a board task that finished while it was
   * down was never answered on its post. Both steps are idempotent (the task is keyed by the
   * post; an answer is posted only if the agent has not replied since its task ended), so
   * posts already handled are left as they are. Returns how many answers it posted.
   */
  async catchUp(since: string, limit = 500): Promise<number> {
    const { store } = this.deps;
    const audiences = (await store.deployments.list()).filter((d) => d.manifest.handlers.includes(AGENT_TASK_TYPE)).map((d) => `agent:${d.name}`);
    if (audiences.length === 0) return 0;
    const posts = (await store.board.listPosts({ audiences, status: 'open', limit })).filter((p) => p.authorType === 'human' && p.createdAt >= since);
    let answered = 0;
    for (const post of posts) {
      const task = await this.route(post);
      if (!task || !isTerminal(task.status)) continue;
      const replies = await store.board.listReplies(post.id, 500);
      if (replies.some((r) => r.authorId === `agent:${task.agent}` && r.createdAt >= (task.finishedAt ?? ''))) continue;
      await this.taskFinished(task);
      answered++;
    }
    return answered;
  }

  /** A board task finished: its answer (or why it failed) becomes the agent's reply to the post. */
  readonly taskFinished = async (task: TaskRecord): Promise<void> => {
    const origin = originOf(task);
    if (origin?.kind !== 'board') return;
    const body = task.status === 'completed' ? task.result || '(no answer text)' : `I could not finish this (${task.status.replace(/_/g, ' ')}): ${task.error ?? 'no reason given'}`;
    await this.deps.board.reply({ kind: 'agent', name: task.agent }, { postId: origin.postId, body }).catch((err: unknown) => {
      this.deps.log('warn', `could not reply to post ${origin.postId} with the answer of task ${task.id}: ${String(err)}`);
    });
  };
}
