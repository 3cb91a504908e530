import { RpcError } from '../bus-rpc.js';
import type { AgentTool, ToolOutcome } from './tool.js';

/**
 * `delegate`: hand a goal to another agent (one the manifest's `delegates` lists; the system
 * prompt names them) and read back its answer. The control plane queues it as a child of
 * this task, charges its model calls to the top of the chain and refuses cycles and chains
 * too deep; those refusals come back to the model as a failed call it can act on.
 */
export const delegateTool: AgentTool = {
  name: 'delegate',
  description: 'Hand a self-contained goal to another agent and wait for its answer. Use it for work that agent is for; give it everything it needs in the goal.',
  parameters: {
    type: 'object',
    properties: {
      agent: { type: 'string', description: 'The agent to hand the goal to (one of those you may delegate to).' },
      goal: { type: 'string', description: 'What the other agent should do, self-contained.' },
      type: { type: 'string', description: "The other agent's task type; leave out for its usual one." },
    },
    required: ['agent', 'goal'],
    additionalProperties: false,
  },
  async run(args, ctx): Promise<ToolOutcome> {
    const started = Date.now();
    const summary = (ok: boolean, error?: string) => ({ ok, durationMs: Date.now() - started, ...(error ? { error } : {}) });
    const agent = typeof args['agent'] === 'string' ? args['agent'].trim() : '';
    const goal = typeof args['goal'] === 'string' ? args['goal'].trim() : '';
    const type = typeof args['type'] === 'string' && args['type'].trim() ? args['type'].trim() : undefined;
    if (!agent || !goal) return { content: 'delegate needs non-empty "agent" and "goal" strings.', summary: summary(false, 'agent and goal: non-empty strings are required') };
    try {
      const child = await ctx.delegate(agent, goal, { callId: ctx.callId, ...(type ? { type } : {}) });
      if (child.status === 'completed') return { content: `${agent} answered (task ${child.id}): ${child.result ?? ''}`, summary: summary(true) };
      const why = `${agent}'s task ${child.id} ended ${child.status}${child.error ? `: ${child.error}` : ''}`;
      return { content: why, summary: summary(false, why) };
    } catch (err) {
      // The refusal's code (delegation_not_permitted, delegation_cycle...) tells the model what to change.
      const why = err instanceof RpcError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
      return { content: `delegating to ${agent} failed: ${why}`, summary: summary(false, why) };
    }
  },
};
