import * as z from 'zod';

/**
 * Agent (deployment) names and instance ids become NATS subject tokens, Docker names and
 * directory names, so they are restricted to a DNS-label-like alphabet: no dots, wildcards,
 * slashes or upper case can ever reach a subject or a path.
 */
export const AGENT_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;
export const INSTANCE_ID_PATTERN = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?-[a-z0-9]{8}$/;

export const AgentName = z
  .string()
  .regex(AGENT_NAME_PATTERN, 'a lower-case name of 1-40 letters, digits and dashes, starting with a letter');
export const InstanceId = z.string().regex(INSTANCE_ID_PATTERN, '<agent>-<8 lower-case letters or digits>');
export const TaskId = z.string().regex(/^t_[a-z0-9]{20,40}$/, 't_ followed by 20-40 lower-case letters or digits');

export function instanceAgent(instanceId: string): string {
  return instanceId.slice(0, instanceId.lastIndexOf('-'));
}
