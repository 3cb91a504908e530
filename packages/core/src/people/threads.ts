import { createHash } from 'node:crypto';
import { AGENT_TASK_TYPE, AgentTaskInput } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { DeploymentRecord, Store } from '../ports/store.js';

/** One thread per (person, agent): its id is derived, so it never needs a table of its own. */
export function threadIdFor(agent: string, person: string): string {
  return `th_${createHash('sha256').update(`${agent}\0${person}`).digest('hex').slice(0, 24)}`;
}

/** Chat and board posts reach an agent only through its tool loop (the `agent` handler). */
export function requireConversational(d: DeploymentRecord | undefined, agent: string): DeploymentRecord {
  if (!d) throw new FlockError('agent_not_found', `no agent named "${agent}" is deployed`, { agent });
  if (!d.manifest.handlers.includes(AGENT_TASK_TYPE)) {
    throw new FlockError('agent_not_conversational', `agent "${agent}" handles ${d.manifest.handlers.map((h) => `"${h}"`).join(', ')}, not "${AGENT_TASK_TYPE}" (the tool loop), so it cannot chat or take board posts`, {
      agent,
      handlers: d.manifest.handlers,
    });
  }
  return d;
}

/** Where an `agent` task came from, if it says (chat thread or board post). */
export function originOf(task: { type: string; input: unknown }): Extract<AgentTaskInput, { goal: string }>['origin'] {
  if (task.type !== AGENT_TASK_TYPE) return undefined;
  const parsed = AgentTaskInput.safeParse(task.input);
  return parsed.success && typeof parsed.data === 'object' ? parsed.data.origin : undefined;
}

/** A person as others see them: their token's name, never its id. */
export function personNames(store: Pick<Store, 'tokens'>): (personId: string) => Promise<string> {
  return async (id) => (await store.tokens.get(id))?.name ?? (id === 'dev-bypass' ? 'dev-bypass' : 'someone');
}

/** For the sweeper: whether a task waiting for a person has its deadline paused. */
export function deadlinePausedFor(store: Pick<Store, 'people'>): (taskId: string) => Promise<boolean> {
  return async (taskId) => (await store.people.questions.openFor(taskId))?.pauseDeadline ?? false;
}
