import { beforeEach, describe, expect, it } from 'vitest';
import { newSortableId, type ChatMessageRecord, type QuestionRecord, type Store } from '@aiflock/core';
import { task } from './fixtures.js';

const message = (over: Partial<ChatMessageRecord> = {}): ChatMessageRecord => ({
  id: newSortableId('msg', new Date()),
  threadId: 'th_one',
  agent: 'coder',
  person: 'tok_ann',
  role: 'person',
  kind: 'message',
  text: 'hello',
  taskId: null,
  createdAt: new Date().toISOString(),
  ...over,
});

const question = (taskId: string, over: Partial<QuestionRecord> = {}): QuestionRecord => ({
  id: newSortableId('q', new Date()),
  taskId,
  callId: 'call-1',
  agent: 'coder',
  question: 'Which branch?',
  where: 'chat',
  threadId: 'th_one',
  postId: null,
  pauseDeadline: true,
  askedAt: new Date().toISOString(),
  answer: null,
  answeredBy: null,
  answeredAt: null,
  ...over,
});

/** Chat threads and agents' questions: threads in order, one question per tool call, one answer per question. */
export function contract(open: () => Promise<Store>): void {
  describe('people', () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });

    it('keeps a thread in order, the newest page oldest first, apart from other threads', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const m = message({ id: `msg_${String(i).padStart(9, '0')}aaaaaaaaaaaaaa`, text: `turn ${i}`, role: i % 2 ? 'agent' : 'person', kind: i % 2 ? 'answer' : 'message', taskId: i % 2 ? 't_x' : null });
        ids.push(m.id);
        await store.people.chat.append(m);
      }
      await store.people.chat.append(message({ threadId: 'th_two', text: 'elsewhere' }));
      expect((await store.people.chat.list('th_one', 3)).map((m) => m.text)).toEqual(['turn 2', 'turn 3', 'turn 4']);
      expect(await store.people.chat.get(ids[1]!)).toMatchObject({ role: 'agent', kind: 'answer', taskId: 't_x', text: 'turn 1' });
      expect((await store.people.chat.byTask('t_x', ['answer']))?.id).toBe(ids[1]);
      expect(await store.people.chat.byTask('t_x', ['error'])).toBeUndefined();
    });

    it('asks once per tool call, answers once, and finds the open question by task, thread and post', async () => {
      // A status of 17 characters must fit (PostgreSQL enforces the column's length).
      const t = task({ status: 'waiting_for_human' });
      await store.tasks.insert(t);
      expect((await store.tasks.get(t.id))?.status).toBe('waiting_for_human');
      expect((await store.tasks.overdue(new Date(Date.now() + 3_600_000).toISOString(), 10)).map((x) => x.id)).toContain(t.id);

      const first = await store.people.questions.insert(question(t.id));
      expect(first.inserted).toBe(true);
      const again = await store.people.questions.insert(question(t.id, { question: 'retried' }));
      expect(again).toMatchObject({ inserted: false, question: { id: first.question.id, question: 'Which branch?', pauseDeadline: true } });
      expect((await store.people.questions.openFor(t.id))?.id).toBe(first.question.id);
      expect((await store.people.questions.openIn({ threadId: 'th_one' }))?.id).toBe(first.question.id);
      await store.people.questions.placeOn(first.question.id, 'post_abc');
      expect((await store.people.questions.openIn({ postId: 'post_abc' }))?.id).toBe(first.question.id);

      const answered = await store.people.questions.answer(first.question.id, { answer: 'main', answeredBy: 'tok_ann', answeredAt: new Date().toISOString() });
      expect(answered).toMatchObject({ answer: 'main', answeredBy: 'tok_ann' });
      expect(await store.people.questions.answer(first.question.id, { answer: 'dev', answeredBy: 'tok_bob', answeredAt: new Date().toISOString() })).toBeUndefined();
      expect((await store.people.questions.get(first.question.id))?.answer).toBe('main');
      expect(await store.people.questions.openFor(t.id)).toBeUndefined();
    });
  });
}
