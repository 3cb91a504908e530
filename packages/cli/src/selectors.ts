import type { AgentView } from '@aiflock/protocol';
import { CliError } from './client.js';
import { EXIT } from './exit-codes.js';

/**
 * `-l` selectors, as kubectl's: `key=value` or `key!=value`, comma-separated, all must hold;
 * a `*` in a value matches any run of characters. Agents have no free-form labels, so the
 * keys are what an agent has: its name, status, handler (any of them), profile, owner,
 * image and version.
 */
const KEYS = {
  name: (a: AgentView) => [a.name],
  status: (a: AgentView) => [a.status],
  handler: (a: AgentView) => a.handlers,
  profile: (a: AgentView) => [a.profile],
  owner: (a: AgentView) => [a.owner ?? ''],
  image: (a: AgentView) => [a.image],
  version: (a: AgentView) => [a.version],
} as const;

export type AgentSelector = (a: AgentView) => boolean;

export function parseSelector(text: string): AgentSelector {
  const terms = text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((term) => {
      const m = /^([a-z]+)\s*(!=|==|=)\s*(.*)$/.exec(term);
      if (!m) throw new CliError(`-l: "${term}" is not key=value or key!=value`, EXIT.usage);
      const [, key, op, value] = m as unknown as [string, string, string, string];
      if (!(key in KEYS)) throw new CliError(`-l: unknown key "${key}"; use one of ${Object.keys(KEYS).join(', ')}`, EXIT.usage);
      const values = KEYS[key as keyof typeof KEYS];
      const pattern = glob(value);
      const hit = (a: AgentView) => values(a).some((v) => pattern.test(v));
      return op === '!=' ? (a: AgentView) => !hit(a) : hit;
    });
  if (terms.length === 0) throw new CliError('-l: an empty selector; e.g. -l handler=shell,status=running', EXIT.usage);
  return (a) => terms.every((t) => t(a));
}

function glob(value: string): RegExp {
  return new RegExp(`^${value.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}
