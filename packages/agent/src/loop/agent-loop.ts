import { AgentTaskInput, TOOL_NAMES, type AgentLoopSettings, type LlmChatResult, type LlmMessage, type LoopStop, type ToolName, type ToolResultSummary } from '@aiflock/protocol';
import { LlmError } from '../llm-client.js';
import { abortReason, HandlerError, type Handler, type HandlerOutput, type TaskContext } from '../sdk.js';
import { sleep } from '../timing.js';
import { ToolError, type AgentTool, type ToolCallContext, type ToolOutcome } from '../tools/tool.js';
import { StepRecorder } from './steps.js';

/** What an `agent` task's output carries. */
export interface AgentLoopOutput {
  stop: LoopStop;
  /** Model calls made. */
  steps: number;
  usage: { tokensIn: number; tokensOut: number };
  /** URLs the web tools fetched successfully, in order (the answer's sources). */
  citations: string[];
}

/** A wait for the tier's per-minute or concurrency limit longer than this ends the loop instead. */
const MAX_QUOTA_WAIT_MS = 65_000;

/**
 * The agent loop as a task handler: the model (through the gateway, with native tool
 * calling) proposes, the runtime runs the tools the manifest enables, feeds the results back,
 * and the loop stops on an answer, `maxSteps`, the tier's token budget, the deadline or a
 * cancel. Every thought, tool call, tool result and answer is a `task.step` event.
 */
export function agentLoop(settings: AgentLoopSettings, available: Partial<Record<ToolName, AgentTool>>): Handler {
  const enabled = new Map(settings.tools.flatMap((n) => (available[n] ? [[n, available[n]] as const] : [])));
  const offered = [...enabled.values()].map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
  return async (ctx) => {
    const parsed = AgentTaskInput.safeParse(ctx.input);
    if (!parsed.success) {
      throw new HandlerError(`invalid agent task input (expected a goal string or { goal, history?, maxSteps? }): ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`);
    }
    const input = typeof parsed.data === 'string' ? { goal: parsed.data, history: [], maxSteps: undefined } : parsed.data;
    const maxSteps = Math.min(input.maxSteps ?? settings.maxSteps, settings.maxSteps);
    const run = new LoopRun(ctx, settings, enabled, offered, maxSteps);
    try {
      return await run.go([{ role: 'system', content: systemPrompt(settings, ctx, [...enabled.keys()]) }, ...input.history, { role: 'user', content: input.goal }]);
    } finally {
      for (const tool of enabled.values()) await tool.endTask?.(ctx.task.id).catch((err: unknown) => ctx.log.warn(`${tool.name}: could not clean up after the task: ${String(err)}`));
    }
  };
}

function systemPrompt(settings: AgentLoopSettings, ctx: TaskContext, tools: ToolName[]): string {
  const about = [
    `You are agent "${ctx.agent}", working inside your own sandbox.`,
    `Your workspace is ${ctx.workspace}: shell commands run there and file paths are relative to it; nothing outside it is yours.`,
    tools.length ? `Tools you can call: ${tools.join(', ')}. Call them to act; read their results before the next step.` : 'You have no tools: answer from what you know.',
    ...(tools.includes('delegate') ? [`Agents you may delegate to: ${(settings.delegates ?? []).join(', ')}.`] : []),
    'When the goal is reached (or cannot be), reply with your final answer and no tool call.',
  ].join('\n');
  return settings.persona.trim() ? `${settings.persona.trim()}\n\n${about}` : about;
}

class LoopRun {
  private readonly steps: StepRecorder;
  private readonly usage = { tokensIn: 0, tokensOut: 0 };
  private readonly citations: string[] = [];
  private calls = 0;
  /** Off once the gateway says the model has no tool-capable route: then the model can only answer. */
  private offerTools = true;

  constructor(
    private readonly ctx: TaskContext,
    private readonly settings: AgentLoopSettings,
    private readonly enabled: ReadonlyMap<ToolName, AgentTool>,
    private readonly offered: Array<{ name: string; description: string; parameters: Record<string, unknown> }>,
    private readonly maxSteps: number,
  ) {
    this.steps = new StepRecorder(ctx.task.id, ctx.publish, ctx.log);
  }

  async go(messages: LlmMessage[]): Promise<HandlerOutput> {
    for (;;) {
      this.checkAborted();
      if (this.calls >= this.maxSteps) return this.stop('max_steps', `stopped after ${this.calls} steps without an answer (the limit is ${this.maxSteps}: loop.maxSteps in the manifest)`);
      const reply = await this.think(messages);
      if (typeof reply === 'string') return this.stop('token_budget', reply);
      this.calls++;
      const usage = reply.usage;
      this.usage.tokensIn += usage.tokensIn;
      this.usage.tokensOut += usage.tokensOut;
      if (reply.toolCalls.length === 0) {
        // No tool call: this is the answer (a small model may answer on its first step).
        this.steps.emit({ kind: 'answer', text: reply.text, usage, ...(this.citations.length ? { citations: [...this.citations] } : {}) });
        return { result: reply.text, output: this.output('answer') };
      }
      if (reply.text.trim()) this.steps.emit({ kind: 'thought', text: reply.text, usage });
      messages.push({ role: 'assistant', content: reply.text, toolCalls: reply.toolCalls });
      for (const [i, call] of reply.toolCalls.entries()) {
        const outcome = await this.callTool(call, !reply.text.trim() && i === 0 ? usage : undefined);
        messages.push({ role: 'tool', content: outcome.content, toolCallId: call.id });
        this.checkAborted();
      }
    }
  }

  /** One model call; a string is the tier's token budget refusing it. */
  private async think(messages: LlmMessage[]): Promise<LlmChatResult | string> {
    for (;;) {
      try {
        const stream = this.ctx.llm.stream(
          { ...(this.settings.model ? { model: this.settings.model } : {}), messages, params: this.offerTools && this.offered.length ? { tools: this.offered } : {} },
          { signal: this.ctx.signal },
        );
        for await (const _ of stream) void _;
        return await stream.result;
      } catch (err) {
        this.checkAborted();
        if (this.offerTools && this.offered.length && err instanceof LlmError && err.code === 'llm_capability_unsupported' && toolsWereTheProblem(err)) {
          // A model that cannot call tools (the embedded one) can still answer the goal.
          this.ctx.log.warn(`the model cannot call tools (${err.message}); asking it for an answer without tools`);
          this.offerTools = false;
          continue;
        }
        if (!(err instanceof LlmError) || err.code !== 'quota_exceeded') throw this.fail(`the model call failed: ${err instanceof Error ? err.message : String(err)}`);
        const details = (err.details ?? {}) as { limit?: string; retryAfterMs?: number };
        if (details.limit === 'tokens_per_hour') return `the tier's token budget is used up: ${err.message}`;
        // Requests per minute or concurrent calls: wait for the window, as a person would.
        const wait = details.retryAfterMs ?? 1_000;
        if (wait > MAX_QUOTA_WAIT_MS) return `the tier's limits refuse further model calls for ${Math.round(wait / 1000)} s: ${err.message}`;
        this.ctx.log.info(`model call refused by the tier's ${details.limit ?? 'limit'}; retrying in ${wait} ms`);
        if (!(await sleep(wait, this.ctx.signal))) this.checkAborted();
      }
    }
  }

  private async callTool(call: { id: string; name: string; arguments: Record<string, unknown> }, usage: { tokensIn: number; tokensOut: number } | undefined): Promise<ToolOutcome> {
    const known = (TOOL_NAMES as readonly string[]).includes(call.name) ? (call.name as ToolName) : undefined;
    this.steps.emit({ kind: 'tool_call', callId: call.id, args: call.arguments, ...(known ? { tool: known } : { text: `unknown tool "${call.name}"` }), ...(usage ? { usage } : {}) });
    const started = performance.now();
    const tool = known ? this.enabled.get(known) : undefined;
    let outcome: ToolOutcome;
    if (!tool) {
      const why = known
        ? `tool "${known}" is not enabled for this agent (its manifest enables: ${[...this.enabled.keys()].join(', ') || 'none'}); it was not run`
        : `there is no tool "${call.name}" (tools: ${[...this.enabled.keys()].join(', ') || 'none'}); nothing was run`;
      outcome = refused(why, started);
    } else {
      const toolCtx: ToolCallContext = { ...this.ctx, callId: call.id, emit: (step) => void this.steps.emit(step) };
      try {
        outcome = await tool.run(call.arguments, toolCtx);
      } catch (err) {
        // Bad arguments, a path outside the workspace, a request that failed: the model reads why.
        if (!(err instanceof ToolError)) this.ctx.log.warn(`tool ${known} failed: ${err instanceof Error ? err.message : String(err)}`);
        outcome = refused(err instanceof Error ? err.message : String(err), started);
      }
    }
    if (outcome.summary.ok) for (const u of outcome.summary.urls ?? []) if (!this.citations.includes(u)) this.citations.push(u);
    this.steps.emit({ kind: 'tool_result', callId: call.id, ...(known ? { tool: known } : {}), result: outcome.summary });
    return outcome;
  }

  private output(stop: LoopStop): AgentLoopOutput {
    return { stop, steps: this.calls, usage: { ...this.usage }, citations: [...this.citations] };
  }

  private stop(stop: LoopStop, why: string): never {
    throw new HandlerError(why, { output: this.output(stop) });
  }

  private fail(why: string): HandlerError {
    return new HandlerError(why, { output: this.output('error') });
  }

  /** A cancel or the deadline ends the loop; the task runner reports which from the same signal. */
  private checkAborted(): void {
    if (!this.ctx.signal.aborted) return;
    const reason = abortReason(this.ctx.signal);
    this.stop(reason === 'timed_out' ? 'deadline' : 'cancelled', reason === 'timed_out' ? 'deadline reached' : `stopped: ${reason ?? 'aborted'}`);
  }
}

/** The gateway's 400 names what the model lacks (`missing`); only a lack of tools is worked around. */
function toolsWereTheProblem(err: LlmError): boolean {
  const missing = (err.details as { missing?: unknown } | undefined)?.missing;
  return Array.isArray(missing) && missing.includes('tools');
}

function refused(error: string, started: number): ToolOutcome {
  const summary: ToolResultSummary = { ok: false, durationMs: Math.round(performance.now() - started), error: error.slice(0, 4096) };
  return { content: `error: ${error}`, summary };
}
