import type * as AgentOps from '@aiflock/protocol/agent-ops';

/**
 * The agent's op catalogue (`AGENT_OPS`: the zod schemas of every bus op), loaded at the first
 * op call rather than with the task path: running a task needs none of it, and building it
 * costs a new instance (or a claimed warm one) a few hundred ms of CPU under its quota.
 */

type Catalogue = typeof AgentOps;

let loading: Promise<Catalogue> | null = null;

/**
 * The agent's op catalogue (`AGENT_OPS`: the zod schemas of every bus op), loaded at the first
 * op call rather than with the task path: running a task needs none of it, and building it
 * costs a new instance (or a claimed warm one) a few hundred ms of CPU under its quota.
 */

export function opCatalogue(): Promise<Catalogue> {
  loading ??= import('@aiflock/protocol/agent-ops').catch((err: unknown) => {
    loading = null;
    throw err;
  });
  return loading;
}
