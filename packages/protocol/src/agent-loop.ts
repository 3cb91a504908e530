import * as z from 'zod';
import { LlmMessage } from './llm.js';
import { TaskId } from './names.js';

/**
 * The agent loop's contract: what the launcher hands the in-sandbox loop
 * (`AIFLOCK_AGENT_LOOP`), what a task of the loop's type carries, and the steps it reports
 * while it works (`task.step` events on `agent.<id>.events`). The loop itself lives in
 * `@aiflock/agent`; the control plane stores, streams and audits the steps.
 */

/** Tool names the loop knows. A manifest enables each one; the loop offers the model only those. */
export const TOOL_NAMES = ['shell', 'files', 'http', 'browser', 'ask_human', 'delegate'] as const;
export const ToolName = z.enum(TOOL_NAMES);
export type ToolName = z.infer<typeof ToolName>;

/** The task type the loop handles. */
export const AGENT_TASK_TYPE = 'agent';

/** Most bytes of one stream (stdout, stderr, a page's text) a step carries; the sha256 covers the whole. */
export const STEP_OUTPUT_MAX = 16 * 1024;

/** Settings the launcher hands the loop, from the manifest (`AIFLOCK_AGENT_LOOP`, JSON). */
export const AgentLoopSettings = z
  .object({
    /** The tools the manifest enables. */
    tools: z.array(ToolName),
    /** The manifest's model name; the gateway's `default` when null. */
    model: z.string().min(1).nullable().default(null),
    /** The system prompt: the manifest's persona (the body of an agent.md). */
    persona: z.string().max(200_000).default(''),
    maxSteps: z.number().int().min(1).max(1000).default(30),
    /** Whether a task's deadline stops while it waits for a person (`ask_human`). */
    pauseDeadlineForHuman: z.boolean().default(true),
    /** The agents the `delegate` tool may hand work to (the manifest's `delegates`); none when absent. */
    delegates: z.array(z.string()).optional(),
  })
  .strict();
export type AgentLoopSettings = z.infer<typeof AgentLoopSettings>;

/** A task for the loop: a goal as a string, or a goal with the conversation so far. */
export const AgentTaskInput = z.union([
  z.string().min(1, 'a goal'),
  z
    .object({
      goal: z.string().min(1, 'a goal'),
      /** Earlier turns (a chat thread), oldest first; the goal is the newest user turn. */
      history: z.array(LlmMessage).max(500).default([]),
      maxSteps: z.number().int().min(1).max(1000).optional(),
      /** Where the task came from, so the answer can go back there. */
      origin: z
        .union([
          z.object({ kind: z.literal('chat'), threadId: z.string().min(1), messageId: z.string().min(1) }).strict(),
          z.object({ kind: z.literal('board'), postId: z.string().min(1) }).strict(),
        ])
        .optional(),
    })
    .strict(),
]);
export type AgentTaskInput = z.infer<typeof AgentTaskInput>;

/** What a tool call did, as recorded in its step, the audit log and the transcript. */
export const ToolResultSummary = z
  .object({
    ok: z.boolean(),
    durationMs: z.number().int().min(0),
    /** shell */
    cwd: z.string().max(4096).optional(),
    exitCode: z.number().int().nullable().optional(),
    stdout: z.string().max(STEP_OUTPUT_MAX).optional(),
    stderr: z.string().max(STEP_OUTPUT_MAX).optional(),
    stdoutSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    stderrSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    truncated: z.boolean().optional(),
    /** http and browser: every URL fetched, in order. */
    urls: z.array(z.string().max(8192)).max(100).optional(),
    /** Why the tool refused or failed, in words a person can act on. */
    error: z.string().max(4096).optional(),
  })
  .strict();
export type ToolResultSummary = z.infer<typeof ToolResultSummary>;

export const STEP_KINDS = ['thought', 'tool_call', 'tool_result', 'question', 'human_answer', 'answer'] as const;
export const StepKind = z.enum(STEP_KINDS);
export type StepKind = z.infer<typeof StepKind>;

/** One step of a loop's work, in order (`seq` from 0 per task attempt). */
export const TaskStep = z
  .object({
    type: z.literal('task.step'),
    ts: z.string().datetime(),
    taskId: TaskId,
    seq: z.number().int().min(0),
    kind: StepKind,
    /** thought / question / human_answer / answer: the words. */
    text: z.string().max(64 * 1024).optional(),
    /** tool_call / tool_result */
    tool: ToolName.optional(),
    callId: z.string().max(200).optional(),
    args: z.record(z.string(), z.unknown()).optional(),
    result: ToolResultSummary.optional(),
    /** answer: the URLs the answer's web content came from. */
    citations: z.array(z.string().max(8192)).max(100).optional(),
    /** Tokens the model call that produced this step used. */
    usage: z.object({ tokensIn: z.number().int().min(0), tokensOut: z.number().int().min(0) }).strict().optional(),
  })
  .strict();
export type TaskStep = z.infer<typeof TaskStep>;

/** Why a loop stopped, in a task's output (`error`: a model call failed for another reason, e.g. no provider). */
export const LoopStop = z.enum(['answer', 'max_steps', 'token_budget', 'deadline', 'cancelled', 'error']);
export type LoopStop = z.infer<typeof LoopStop>;
