import type { RuntimeFactory } from '../shared/host-runtime.js';
import { storageLimits } from '../shared/settings.js';
import { ProcessRuntime } from './process-runtime.js';

/** Bubblewrap processes for hosts without Docker; the bus reaches them over a relayed socket. */
export const processRuntimeFactory = {
  kind: 'process',
  create: (ctx) =>
    new ProcessRuntime({
      flock: ctx.flock,
      node: ctx.node,
      rootDir: ctx.settings.processDir ?? `/var/lib/aiflock-${ctx.flock}`,
      bundle: ctx.agentBundle,
      busServers: ctx.busServers ?? [{ host: '127.0.0.1', port: ctx.busPort }],
      busPort: ctx.busPort,
      secretsDir: ctx.secretsDir,
      storage: storageLimits(ctx.settings),
      log: ctx.log,
    }),
  operator: () => ({ refusal: 'the process runtime has no operator profile (it needs the Docker runtime and an operator engine, runtime.operatorEngine)' }),
} as const satisfies RuntimeFactory;
