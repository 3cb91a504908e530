import { instanceAgent } from '@aiflock/protocol/names';
import { RuntimeEnv } from '@aiflock/protocol/runtime-env';

export type EnvParse = { ok: true; env: RuntimeEnv } | { ok: false; error: string };

/**
 * Parse the runtime's environment. The error is one line naming every bad variable, since
 * it is what an operator sees in `docker logs` when a launcher got the contract wrong.
 */
export function parseRuntimeEnv(source: NodeJS.ProcessEnv): EnvParse {
  const parsed = RuntimeEnv.safeParse(source);
  if (!parsed.success) {
    const problems = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '(environment)');
      if (problems.has(name)) continue;
      problems.set(name, source[name] === undefined ? 'is not set' : `is invalid (${issue.message})`);
    }
    return { ok: false, error: `invalid environment: ${[...problems].map(([k, v]) => `${k} ${v}`).join('; ')}` };
  }
  const env = parsed.data;
  if (instanceAgent(env.AIFLOCK_INSTANCE_ID) !== env.AIFLOCK_AGENT) {
    return {
      ok: false,
      error: `invalid environment: AIFLOCK_INSTANCE_ID ${env.AIFLOCK_INSTANCE_ID} is not an instance of AIFLOCK_AGENT ${env.AIFLOCK_AGENT}`,
    };
  }
  return { ok: true, env };
}
