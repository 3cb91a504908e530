import { AGENT_TASK_TYPE, type AgentLoopSettings, type ToolName } from '@aiflock/protocol';
import type { Manifest } from './schema.js';

/** The tools a manifest enables, by the loop's names for them. */
export function enabledTools(m: Manifest): ToolName[] {
  const t = m.tools;
  return [
    ...(t.shell ? (['shell'] as const) : []),
    ...(t.files ? (['files'] as const) : []),
    ...(t.http ? (['http'] as const) : []),
    ...(t.browser ? (['browser'] as const) : []),
    ...(t.askHuman ? (['ask_human'] as const) : []),
    ...(m.delegates?.length ? (['delegate'] as const) : []),
  ];
}

/** `AIFLOCK_AGENT_LOOP` for a sandbox whose manifest handles `agent` tasks, else undefined. */
export function agentLoopEnv(m: Manifest): string | undefined {
  if (!m.handlers.includes(AGENT_TASK_TYPE)) return undefined;
  const settings: AgentLoopSettings = {
    tools: enabledTools(m),
    model: m.model?.name ?? null,
    persona: m.persona,
    maxSteps: m.loop.maxSteps,
    pauseDeadlineForHuman: m.tools.askHuman?.pauseDeadline ?? true,
    delegates: m.delegates ?? [],
  };
  return JSON.stringify(settings);
}

/**
 * Every host the agent may reach through the egress proxy: `network.egress` and the http
 * tool's `allow` list (the tool's requests go through the same proxy, so its list is an
 * egress rule like any other).
 */
export function egressRulesOf(m: Manifest): string[] {
  return [...new Set([...m.network.egress, ...(m.tools.http?.allow ?? [])])];
}
