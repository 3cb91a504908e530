import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { FlockError, grants, isTerminal, personNames, threadIdFor, type ChatMessageRecord } from '@aiflock/core';
import { AgentNameParams as NameParams, AnswerQuestion, ChatThread, ChatThreadQuery as ThreadQuery, HumanQuestion, SendChatMessage, SentChatMessage, TaskIdParams as IdParams } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

const POLL_MS = 200;

/**
 * Direct chat with agents and answers to their questions. Anyone holding `chat` may chat
 * with any agent that runs the tool loop, each in a thread of their own; only admins may
 * read another person's thread (`?person=<token id or name>`).
 */
export const chatRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const people = () => {
      if (!ctx.people) throw new FlockError('not_ready', 'chat is not served by this API');
      return ctx.people;
    };
    const caller = (req: FastifyRequest) => ({ id: actorOf(req), admin: grants(req.actor?.scopes ?? [], 'admin') });

    /** Whose thread: the caller's, or for an admin the person named. */
    const personOf = async (req: FastifyRequest): Promise<string> => {
      const { person } = parseInput(ThreadQuery, req.query ?? {}, 'query');
      const me = caller(req);
      if (person === undefined || person === me.id) return me.id;
      if (!me.admin) throw new FlockError('forbidden', "only an admin may read another person's chat thread", { person });
      if (await ctx.store.tokens.get(person)) return person;
      const named = (await ctx.store.tokens.list()).filter((t) => t.name === person);
      if (named.length !== 1) throw new FlockError('validation_failed', `person: ${named.length ? `${named.length} tokens are named "${person}"; give the token id` : `no person (token id or name) "${person}"`}`, { field: 'person' });
      return named[0]!.id;
    };

    app.post('/agents/:name/messages', route('chat', { summary: "Send a message in your chat with an agent: it becomes a task of the agent's tool loop, or answers the question the agent waits on", params: NameParams, body: SendChatMessage, response: SentChatMessage, status: 201 }), async (req, reply) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const out = await audited(
        ctx.audit,
        req,
        'chat.send',
        `agent/${name}`,
        async () => people().chat.send(caller(req), name, parseInput(SendChatMessage, req.body, 'body').text),
        (r) => ({ correlationId: r.taskId, details: { message: r.message.id, task: r.taskId, delivered: r.delivered } }),
      );
      return reply.status(201).send(out);
    });

    app.get('/agents/:name/messages', route('chat', { summary: 'Your chat thread with an agent, oldest first (admins: ?person=<token id or name>)', params: NameParams, query: ThreadQuery, response: ChatThread }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      return people().chat.thread(name, await personOf(req));
    });

    app.post('/jobs/:id/answer', route('chat', { summary: 'Answer the question a job waits on (status waiting_for_human)', params: IdParams, body: AnswerQuestion, response: HumanQuestion }), async (req) => {
      const { id } = parseInput(IdParams, req.params, 'params');
      const q = await audited(
        ctx.audit,
        req,
        'task.answer',
        `task/${id}`,
        async () => people().questions.answer(caller(req), id, parseInput(AnswerQuestion, req.body, 'body').text, 'api'),
        (r) => ({ correlationId: id, details: { question: r.id } }),
      );
      return { ...q, answeredBy: await personNames(ctx.store)(q.answeredBy ?? '') };
    });

    app.get(
      '/ws/chat/:name',
      { websocket: true, ...route('chat', { summary: 'WebSocket: your chat thread with an agent live: `message` for each new message, `task` for each event (status, log, step) of the tasks it started', params: NameParams, query: ThreadQuery }) },
      async (socket, req) => {
        const send = (type: string, payload: unknown) => socket.readyState === socket.OPEN && socket.send(JSON.stringify({ type, ts: new Date().toISOString(), payload }));
        const refuse = (code: number, message: string) => {
          send('error', { code: 'stream_refused', message });
          socket.close(code, message.slice(0, 120));
        };
        const params = NameParams.safeParse(req.params);
        if (!params.success) return refuse(4400, 'invalid agent name');
        if (!ctx.people) return refuse(1011, 'chat is not served by this API');
        let person: string;
        try {
          person = await personOf(req);
        } catch (err) {
          return refuse(4403, err instanceof Error ? err.message : 'refused');
        }
        const agent = params.data.name;
        if (!(await ctx.store.deployments.get(agent))) return refuse(4404, `no agent named "${agent}" is deployed`);
        const { chat, feed } = ctx.people;
        const threadId = threadIdFor(agent, person);
        // Tasks of this thread still going: the last job event relayed of each, and quiet reads since it finished.
        const live = new Map<string, { after: number; quiet: number }>();
        const follow = (m: ChatMessageRecord) => {
          if (m.role === 'person' && m.taskId && !live.has(m.taskId)) live.set(m.taskId, { after: 0, quiet: 0 });
        };
        let open = true;
        const unsubscribe = feed.onThread(threadId, (m) => {
          follow(m);
          void chat.view(m).then((v) => send('message', v));
        });
        socket.on('close', () => {
          open = false;
          unsubscribe();
        });
        const recent = await ctx.store.people.chat.list(threadId, 20);
        for (const m of recent) {
          const t = m.taskId && m.role === 'person' ? await ctx.store.tasks.get(m.taskId) : undefined;
          if (t && !isTerminal(t.status)) follow(m);
        }
        send('hello', { stream: 'chat', agent, threadId });
        const heartbeat = setInterval(() => send('heartbeat', {}), ctx.wsHeartbeatMs);
        try {
          while (open) {
            for (const [taskId, at] of live) {
              const events = await ctx.store.jobEvents.list({ jobId: taskId, afterSeq: at.after, limit: 500 });
              for (const e of events) send('task', { taskId, event: { id: e.seq, type: e.type, ts: e.ts, payload: e.payload } });
              if (events.length) live.set(taskId, { after: events[events.length - 1]!.seq, quiet: 0 });
              // A finished task may still get a last event just after its status: two quiet reads end it.
              else if (isTerminal((await ctx.store.tasks.get(taskId))?.status ?? 'completed') && ++at.quiet >= 2) live.delete(taskId);
            }
            await new Promise((r) => setTimeout(r, POLL_MS));
          }
        } finally {
          clearInterval(heartbeat);
        }
      },
    );
  };
