import type { LoadedMap } from './load-map.js';
import type { Perceiver } from './perception.js';
import type { WorldHost } from './world-host.js';

/** What the HTTP layer uses of the village. */
export interface WorldApi {
  host: WorldHost;
  perceiver: Perceiver;
  files: LoadedMap['files'];
  /** A WebSocket watcher whose send buffer passes this gets a fresh snapshot instead of deltas. */
  wsBufferLimitBytes: number;
  /** Watchers connected now (for the gauge). */
  watchers: Set<unknown>;
}
