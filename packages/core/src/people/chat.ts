import { AGENT_TASK_TYPE, type AgentTaskInput, type ChatMessage, type LlmMessage } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { assertMayRunTasks } from '../auth/task-access.js';
import { newSortableId } from '../ids.js';
import type { Clock } from '../ports/clock.js';
import type { ChatMessageRecord } from '../ports/people-store.js';
import type { Store, TaskRecord } from '../ports/store.js';
import type { TaskService } from '../services/tasks.js';
import type { PeopleFeed } from './feed.js';
import type { HumanQuestions } from './questions.js';
import { originOf, requireConversational, threadIdFor } from './threads.js';

/** Turns of a thread handed to the loop as history, newest last. */
const HISTORY_TURNS = 40;
const THREAD_PAGE = 500;

export interface ChatDeps {
  store: Store;
  clock: Clock;
  tasks: TaskService;
  questions: HumanQuestions;
  feed: PeopleFeed;
  nameOf(personId: string): Promise<string>;
}

/**
 * Direct chat: a thread per (person, agent). A person's message becomes an `agent` task with
 * the thread so far as history, unless the agent waits on a question in this thread, in
 * which case the message is the answer. The task's answer (or why it failed) is appended
 * to the thread when the task finishes.
 */
export class ChatService {
  constructor(private readonly deps: ChatDeps) {}

  async send(person: { id: string; admin: boolean }, agent: string, text: string): Promise<{ message: ChatMessage; taskId: string; delivered: 'task' | 'answer' }> {
    const { store, clock } = this.deps;
    const d = requireConversational(await store.deployments.get(agent), agent);
    // A chat message runs the agent's loop with its tools, secrets and egress: it is running a
    // task, so the same people may (its owner, admins, those its manifest shares it with).
    assertMayRunTasks({ id: person.id, scopes: person.admin ? ['admin'] : [] }, agent, d);
    const threadId = threadIdFor(agent, person.id);
    const waiting = await this.deps.questions.waitingIn({ threadId });
    if (waiting) {
      await this.deps.questions.answer(person, waiting.taskId, text, 'chat');
      const message = await this.append({ threadId, agent, person: person.id, role: 'person', kind: 'message', text, taskId: waiting.taskId });
      return { message, taskId: waiting.taskId, delivered: 'answer' };
    }
    const history = toHistory(await store.people.chat.list(threadId, HISTORY_TURNS));
    const id = newSortableId('msg', clock.now());
    const input: AgentTaskInput = { goal: text, history, origin: { kind: 'chat', threadId, messageId: id } };
    // Keyed by the message: a retried create never queues the same message twice.
    const { task } = await this.deps.tasks.create({ agent, type: AGENT_TASK_TYPE, input }, `chat:${id}`);
    const message = await this.append({ threadId, agent, person: person.id, role: 'person', kind: 'message', text, taskId: task.id }, id);
    return { message, taskId: task.id, delivered: 'task' };
  }

  /** The thread of `person` with `agent`, oldest first. */
  async thread(agent: string, person: string): Promise<{ threadId: string; agent: string; person: string; messages: ChatMessage[] }> {
    if (!(await this.deps.store.deployments.get(agent))) throw new FlockError('agent_not_found', `no agent named "${agent}" is deployed`, { agent });
    const threadId = threadIdFor(agent, person);
    const rows = await this.deps.store.people.chat.list(threadId, THREAD_PAGE);
    return { threadId, agent, person: await this.deps.nameOf(person), messages: await Promise.all(rows.map((r) => this.view(r))) };
  }

  /** A stored message as people see it: the person by name. */
  async view(r: ChatMessageRecord): Promise<ChatMessage> {
    return { id: r.id, threadId: r.threadId, agent: r.agent, person: await this.deps.nameOf(r.person), role: r.role, kind: r.kind, text: r.text, taskId: r.taskId, createdAt: r.createdAt };
  }

  /** A task reached a final status: a chat task's answer (or failure) goes to its thread, once. */
  readonly taskFinished = async (task: TaskRecord): Promise<void> => {
    const origin = originOf(task);
    if (origin?.kind !== 'chat') return;
    const { store } = this.deps;
    if (await store.people.chat.byTask(task.id, ['answer', 'error'])) return;
    const asked = await store.people.chat.get(origin.messageId);
    const ok = task.status === 'completed';
    const text = ok ? task.result || '(the agent answered with no text)' : `The task ${task.status === 'failed' ? 'failed' : `ended ${task.status.replace(/_/g, ' ')}`}: ${task.error ?? 'no reason given'}`;
    await this.append({ threadId: origin.threadId, agent: task.agent, person: asked?.person ?? '', role: 'agent', kind: ok ? 'answer' : 'error', text, taskId: task.id });
  };

  private async append(m: Omit<ChatMessageRecord, 'id' | 'createdAt'>, id?: string): Promise<ChatMessage> {
    const now = this.deps.clock.now();
    const record: ChatMessageRecord = { id: id ?? newSortableId('msg', now), createdAt: now.toISOString(), ...m };
    await this.deps.store.people.chat.append(record);
    this.deps.feed.message(record);
    return this.view(record);
  }
}

/** A thread as the loop's history: the person's turns as user, the agent's answers and questions as assistant. */
function toHistory(rows: ChatMessageRecord[]): LlmMessage[] {
  return rows.filter((r) => r.kind !== 'error').map((r) => ({ role: r.role === 'person' ? ('user' as const) : ('assistant' as const), content: r.text }));
}
