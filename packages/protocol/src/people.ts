import * as z from 'zod';
import { TaskId } from './names.js';

/**
 * Talking with people: a person's direct chat thread with an agent, and the questions an
 * agent's loop asks a person (`ask_human`) over the bus. People are shown by their token's
 * name, never its id.
 */

export const ChatMessageId = z.string().regex(/^msg_[a-z0-9]{23}$/, 'a chat message id (msg_...)');

/** Who wrote a message, and what it is: a person's message, the agent's answer or question, a failure. */
export const ChatRole = z.enum(['person', 'agent']);
export const ChatKind = z.enum(['message', 'answer', 'question', 'error']);

export const ChatMessage = z.object({
  id: ChatMessageId,
  threadId: z.string(),
  agent: z.string(),
  /** The person's name (their token's name). */
  person: z.string(),
  role: ChatRole,
  kind: ChatKind,
  text: z.string(),
  /** The task the message started (a person's message) or came from (the agent's). */
  taskId: TaskId.nullable(),
  createdAt: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

export const SendChatMessage = z.object({ text: z.string().trim().min(1, 'some text').max(64 * 1024) }).strict();
export type SendChatMessage = z.infer<typeof SendChatMessage>;

/** What `POST /v1/agents/{name}/messages` answers: the stored message, and the task it queued or answered. */
export const SentChatMessage = z.object({
  message: ChatMessage,
  /** The task queued for this message, or the waiting task it answered. */
  taskId: TaskId,
  /** `task`: a new task was queued; `answer`: the message answered the agent's open question. */
  delivered: z.enum(['task', 'answer']),
});
export type SentChatMessage = z.infer<typeof SentChatMessage>;

/** `GET /v1/agents/{name}/messages`: whose thread (admins only may name another person). */
export const ChatThreadQuery = z.object({ person: z.string().min(1).max(200).optional() }).strict();

export const ChatThread = z.object({ threadId: z.string(), agent: z.string(), person: z.string(), messages: z.array(ChatMessage) });
export type ChatThread = z.infer<typeof ChatThread>;

/** `POST /v1/jobs/{id}/answer`. */
export const AnswerQuestion = z.object({ text: z.string().trim().min(1, 'an answer').max(64 * 1024) }).strict();
export type AnswerQuestion = z.infer<typeof AnswerQuestion>;

/** Where a question went: the task's chat thread, its board post, or a new post for the owner. */
export const QuestionWhere = z.enum(['chat', 'board', 'owner']);

export const HumanQuestion = z.object({
  id: z.string(),
  taskId: TaskId,
  agent: z.string(),
  question: z.string(),
  where: QuestionWhere,
  threadId: z.string().nullable(),
  postId: z.string().nullable(),
  pauseDeadline: z.boolean(),
  askedAt: z.string(),
  answer: z.string().nullable(),
  /** Who answered, by name. */
  answeredBy: z.string().nullable(),
  answeredAt: z.string().nullable(),
});
export type HumanQuestion = z.infer<typeof HumanQuestion>;

/** Bus ops of the `human` service (`agent.<id>.rpc.human.<op>`). */

/** `human.ask`: idempotent per (task, call). Answers `HumanAskReply`. */
export const HumanAskRpc = z.object({ taskId: TaskId, callId: z.string().min(1).max(200), question: z.string().trim().min(1, 'a question').max(16 * 1024) }).strict();
export type HumanAskRpc = z.infer<typeof HumanAskRpc>;
export const HumanAskReply = z.object({ questionId: z.string(), pauseDeadline: z.boolean(), where: QuestionWhere });
export type HumanAskReply = z.infer<typeof HumanAskReply>;

/** `human.wait`: holds up to `waitMs`; answers `HumanWaitReply`. Call again until answered. */
export const HumanWaitRpc = z.object({ questionId: z.string().min(1).max(100), waitMs: z.number().int().min(0).max(60_000).default(20_000) }).strict();
export type HumanWaitRpc = z.input<typeof HumanWaitRpc>;
export const HumanWaitReply = z.union([
  z.object({ answered: z.literal(false) }),
  /** `deadline`: the task's deadline after the wait (moved by the time waited when paused). */
  z.object({ answered: z.literal(true), answer: z.string(), answeredBy: z.string(), deadline: z.string() }),
]);
export type HumanWaitReply = z.infer<typeof HumanWaitReply>;
