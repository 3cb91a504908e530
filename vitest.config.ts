import { defineConfig } from 'vitest/config';
import SlowestFirst from './testkit/slowest-first.js';

// Unit tests are pure and fast; integration tests drive real Docker, nats-server, SQLite,
// PostgreSQL and Chromium. Vitest's pool (one for the whole run: per-project worker limits do
// not apply to it) defaults to cores - 1 workers, which is one file at a time on a 2-core
// machine, where an integration file mostly waits on containers and servers. Three at a time
// (two left the run at 27.5 min of tests, 50 min of file time): every file owns its flock
// (name, network, firewall chains, ports, data dir), so files share nothing but the Docker
// engine and the agent image, which is built by content hash.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
  test: {
    // eventsource-parser (under the AI SDK and the MCP SDK) publishes its TypeScript under the
    // `source` condition too; loaded by Node, that .ts would not run, so Vite transforms the chain.
    server: { deps: { inline: ['ai', /@ai-sdk\//, /@modelcontextprotocol\/sdk/, 'eventsource-parser'] } },
    maxWorkers: 3,
    minWorkers: 1,
    sequence: { sequencer: SlowestFirst },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['packages/*/test/**/*.test.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
