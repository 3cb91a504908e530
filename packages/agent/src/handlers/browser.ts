import * as z from 'zod';
import type { ToolResultSummary } from '@aiflock/protocol';
import { HandlerError, type HandlerOutput, type TaskContext } from '../sdk.js';
import { BrowserArgs, browserTool, closeBrowserSession } from '../tools/browser.js';

/**
 * The `browser` task type: a fixed list of browser actions (the browser tool's arguments) run
 * in order, without a model: scripted browsing, and the way to check a manifest's browser
 * and egress setup by hand. The first failing action fails the task, with what came before.
 */
export const BrowserInput = z.union([
  z.array(BrowserArgs).min(1, 'at least one action'),
  z.object({ actions: z.array(BrowserArgs).min(1, 'at least one action') }).strict(),
]);

export interface BrowserStepOutput {
  action: string;
  ok: boolean;
  content: string;
  result: ToolResultSummary;
}

export interface BrowserOutput {
  steps: BrowserStepOutput[];
  /** Every URL visited, in order. */
  urls: string[];
}

export async function browser(ctx: TaskContext): Promise<HandlerOutput> {
  const parsed = BrowserInput.safeParse(ctx.input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    throw new HandlerError(`invalid browser input (expected { actions: [{ action: "open", url }, ...] }): ${issues}`);
  }
  const actions = Array.isArray(parsed.data) ? parsed.data : parsed.data.actions;
  const output: BrowserOutput = { steps: [], urls: [] };
  try {
    for (const [i, args] of actions.entries()) {
      const { content, summary } = await browserTool.run(args, { ...ctx, callId: `${ctx.task.id}-${i}`, emit: () => undefined });
      output.steps.push({ action: args.action, ok: summary.ok, content, result: summary });
      output.urls.push(...(summary.urls ?? []));
      if (!summary.ok) throw new HandlerError(`browser action ${i} (${args.action}) failed: ${summary.error ?? content}`, { output, result: content });
    }
  } finally {
    await closeBrowserSession(ctx.task.id);
  }
  return { result: output.steps.at(-1)?.content ?? '', output };
}
