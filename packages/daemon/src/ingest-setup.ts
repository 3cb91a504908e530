import { InstanceRateLimit, TaskIngest, type Bus, type Clock, type Presence, type SecretService, type Store } from '@aiflock/core';
import type { Config } from './config.js';
import type { logFn } from './logger.js';

/**
 * The ingest of what instances send, as the daemon runs it: every event is rate limited per
 * instance (`instances.eventsPerSecond`/`eventBurst`), every log line cut to
 * `logs.maxLineChars`, and everything scrubbed of the secrets its agent holds before it is
 * stored or re-published.
 */
export function createIngest(
  config: Pick<Config, 'instances' | 'logs'>,
  deps: { store: Store; bus: Bus; clock: Clock; log: ReturnType<typeof logFn>; presence: Presence; secrets: SecretService; onEventDropped?: (instanceId: string) => void },
): TaskIngest {
  const { store, secrets, clock } = deps;
  return new TaskIngest({
    ...deps,
    scrubberOf: async (agent) => {
      const d = await store.deployments.get(agent);
      return d ? secrets.scrubberFor(d.manifest) : (value) => value;
    },
    eventLimit: new InstanceRateLimit({ perSecond: config.instances.eventsPerSecond, burst: config.instances.eventBurst, clock }),
    maxLogChars: config.logs.maxLineChars,
  });
}
