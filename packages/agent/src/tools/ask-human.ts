import type { HumanWaitReply } from '@aiflock/protocol';
import { describe } from '../connect.js';
import { abortable, backoff, sleep } from '../timing.js';
import type { AgentTool, ToolCallContext, ToolOutcome } from './tool.js';

/** How long one `human.wait` holds on the control plane before the tool asks again. */
const WAIT_MS = 20_000;

/**
 * `ask_human`: ask a person a question and wait for the answer. The control plane puts the
 * question where the task came from (its chat thread or board post, else a post for the
 * agent's owner) and shows the task `waiting_for_human`; the deadline stands still here too
 * when the manifest says so. A cancel (or the deadline, when it runs) ends the wait.
 */
export const askHumanTool: AgentTool = {
  name: 'ask_human',
  description:
    'Ask a person a clarifying question and wait for their answer. Use it when the goal is ambiguous or you need a decision only a person can make; ask one short, specific question.',
  parameters: {
    type: 'object',
    properties: { question: { type: 'string', description: 'The question, in one or two sentences.' } },
    required: ['question'],
    additionalProperties: false,
  },
  async run(args, ctx): Promise<ToolOutcome> {
    const started = Date.now();
    const question = typeof args['question'] === 'string' ? args['question'].trim() : '';
    const summary = (ok: boolean, error?: string) => ({ ok, durationMs: Date.now() - started, ...(error ? { error } : {}) });
    if (!question) return { content: 'ask_human needs a non-empty "question" string.', summary: summary(false, 'question: a non-empty string is required') };
    const asked = await ctx.human.ask({ taskId: ctx.task.id, callId: ctx.callId, question });
    ctx.emit({ kind: 'question', text: question, tool: 'ask_human', callId: ctx.callId });
    const resume = asked.pauseDeadline ? ctx.pauseDeadline() : null;
    let answer: Extract<HumanWaitReply, { answered: true }> | null = null;
    try {
      answer = await waitForAnswer(asked.questionId, ctx);
    } finally {
      resume?.(answer?.deadline);
    }
    if (!answer) {
      const why = 'the task was stopped while waiting for an answer';
      return { content: why, summary: summary(false, why) };
    }
    ctx.emit({ kind: 'human_answer', text: answer.answer, tool: 'ask_human', callId: ctx.callId });
    return { content: `${answer.answeredBy} answered: ${answer.answer}`, summary: summary(true) };
  },
};

/** Long polls until answered or the task's signal aborts (null); bus hiccups are retried. */
async function waitForAnswer(questionId: string, ctx: ToolCallContext): Promise<Extract<HumanWaitReply, { answered: true }> | null> {
  for (let failures = 0; !ctx.signal.aborted; ) {
    try {
      const r = await abortable(ctx.human.wait({ questionId, waitMs: WAIT_MS }), ctx.signal);
      if (r === null) return null;
      failures = 0;
      if (r.answered) return r;
    } catch (err) {
      const delay = backoff(failures++, 500, 10_000);
      ctx.log.warn(`waiting for the answer to question ${questionId} failed (${describe(err)}); asking again in ${delay} ms`);
      if (!(await sleep(delay, ctx.signal))) return null;
    }
  }
  return null;
}
