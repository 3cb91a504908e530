import type { Kysely, Selectable } from 'kysely';
import type { ChatMessageRecord, PeopleStore, QuestionRecord } from '@aiflock/core';
import type { ChatMessagesTable, Database, HumanQuestionsTable } from './tables.js';

/** Chat threads and agents' questions to people, on any Kysely backend. */
export function peopleRepo(db: Kysely<Database>): PeopleStore {
  const question = async (id: string) => {
    const r = await db.selectFrom('human_questions').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toQuestion(r);
  };
  return {
    chat: {
      append: async (m) => {
        await db
          .insertInto('chat_messages')
          .values({ id: m.id, thread_id: m.threadId, agent: m.agent, person: m.person, role: m.role, kind: m.kind, text: m.text, task_id: m.taskId, created_at: m.createdAt })
          .execute();
      },
      list: async (threadId, limit) => {
        const rows = await db.selectFrom('chat_messages').selectAll().where('thread_id', '=', threadId).orderBy('id', 'desc').limit(limit).execute();
        return rows.reverse().map(toMessage);
      },
      get: async (id) => {
        const r = await db.selectFrom('chat_messages').selectAll().where('id', '=', id).executeTakeFirst();
        return r && toMessage(r);
      },
      byTask: async (taskId, kinds) => {
        const r = await db.selectFrom('chat_messages').selectAll().where('task_id', '=', taskId).where('role', '=', 'agent').where('kind', 'in', kinds).orderBy('id').executeTakeFirst();
        return r && toMessage(r);
      },
    },
    questions: {
      insert: async (q) => {
        const r = await db
          .insertInto('human_questions')
          .values({
            id: q.id,
            task_id: q.taskId,
            call_id: q.callId,
            agent: q.agent,
            question: q.question,
            where_to: q.where,
            thread_id: q.threadId,
            post_id: q.postId,
            pause_deadline: q.pauseDeadline ? 1 : 0,
            asked_at: q.askedAt,
            answer: null,
            answered_by: null,
            answered_at: null,
          })
          .onConflict((oc) => oc.columns(['task_id', 'call_id']).doNothing())
          .executeTakeFirst();
        if (Number(r.numInsertedOrUpdatedRows ?? 0) > 0) return { inserted: true, question: q };
        const existing = await db.selectFrom('human_questions').selectAll().where('task_id', '=', q.taskId).where('call_id', '=', q.callId).executeTakeFirstOrThrow();
        return { inserted: false, question: toQuestion(existing) };
      },
      get: question,
      openFor: async (taskId) => {
        const r = await db.selectFrom('human_questions').selectAll().where('task_id', '=', taskId).where('answered_at', 'is', null).orderBy('asked_at', 'desc').executeTakeFirst();
        return r && toQuestion(r);
      },
      openIn: async (where) => {
        let q = db.selectFrom('human_questions').selectAll().where('answered_at', 'is', null);
        q = 'threadId' in where ? q.where('thread_id', '=', where.threadId) : q.where('post_id', '=', where.postId);
        const r = await q.orderBy('asked_at', 'desc').executeTakeFirst();
        return r && toQuestion(r);
      },
      placeOn: async (id, postId) => {
        await db.updateTable('human_questions').set({ post_id: postId }).where('id', '=', id).execute();
      },
      answer: async (id, a) => {
        const r = await db
          .updateTable('human_questions')
          .set({ answer: a.answer, answered_by: a.answeredBy, answered_at: a.answeredAt })
          .where('id', '=', id)
          .where('answered_at', 'is', null)
          .executeTakeFirst();
        return Number(r.numUpdatedRows) > 0 ? question(id) : undefined;
      },
    },
  };
}

function toMessage(r: Selectable<ChatMessagesTable>): ChatMessageRecord {
  return {
    id: r.id,
    threadId: r.thread_id,
    agent: r.agent,
    person: r.person,
    role: r.role as ChatMessageRecord['role'],
    kind: r.kind as ChatMessageRecord['kind'],
    text: r.text,
    taskId: r.task_id,
    createdAt: r.created_at,
  };
}

function toQuestion(r: Selectable<HumanQuestionsTable>): QuestionRecord {
  return {
    id: r.id,
    taskId: r.task_id,
    callId: r.call_id,
    agent: r.agent,
    question: r.question,
    where: r.where_to as QuestionRecord['where'],
    threadId: r.thread_id,
    postId: r.post_id,
    pauseDeadline: Number(r.pause_deadline) === 1,
    askedAt: r.asked_at,
    answer: r.answer,
    answeredBy: r.answered_by,
    answeredAt: r.answered_at,
  };
}
