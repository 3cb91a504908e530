/** Direct chat threads and agents' questions to people, as stored. */

export interface ChatMessageRecord {
  id: string;
  threadId: string;
  agent: string;
  /** The person's token id (shown by the token's name, never this id). */
  person: string;
  role: 'person' | 'agent';
  kind: 'message' | 'answer' | 'question' | 'error';
  text: string;
  taskId: string | null;
  createdAt: string;
}

export interface QuestionRecord {
  id: string;
  taskId: string;
  /** The loop's tool call that asked: (taskId, callId) asks once however often it is retried. */
  callId: string;
  agent: string;
  question: string;
  where: 'chat' | 'board' | 'owner';
  threadId: string | null;
  postId: string | null;
  pauseDeadline: boolean;
  askedAt: string;
  answer: string | null;
  /** The answerer's token id, or `agent:`/`human:` board author id. */
  answeredBy: string | null;
  answeredAt: string | null;
}

export interface PeopleStore {
  chat: {
    append(m: ChatMessageRecord): Promise<void>;
    /** Oldest first, the newest `limit`. */
    list(threadId: string, limit: number): Promise<ChatMessageRecord[]>;
    get(id: string): Promise<ChatMessageRecord | undefined>;
    /** The agent's message about task `taskId` of this kind, if one was stored (answers are appended once). */
    byTask(taskId: string, kinds: ChatMessageRecord['kind'][]): Promise<ChatMessageRecord | undefined>;
  };
  questions: {
    /** Inserts, or returns the one already asked for (taskId, callId). */
    insert(q: QuestionRecord): Promise<{ inserted: boolean; question: QuestionRecord }>;
    get(id: string): Promise<QuestionRecord | undefined>;
    /** The task's question not yet answered. */
    openFor(taskId: string): Promise<QuestionRecord | undefined>;
    /** Open questions waiting in a chat thread or on a board post. */
    openIn(where: { threadId: string } | { postId: string }): Promise<QuestionRecord | undefined>;
    /** The board post the question was put on (a question for the agent's owner gets a post of its own). */
    placeOn(id: string, postId: string): Promise<void>;
    /** Compare-and-set: records the answer only if the question is still open; undefined when it was not. */
    answer(id: string, a: { answer: string; answeredBy: string; answeredAt: string }): Promise<QuestionRecord | undefined>;
  };
}
