import type { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { printJson, println } from '../output.js';

export function logLevelCommand(program: Command, client: () => ApiClient): void {
  program
    .command('log-level')
    .description("show the daemon's log level, or change it while it runs (admin)")
    .argument('[level]', 'trace, debug, info, warn, error or fatal')
    .option('--json', 'print as JSON')
    .action(async (level: string | undefined, o: { json?: boolean }) => {
      const api = client();
      const out = level
        ? (await api.request<{ level: string }>('PUT', '/v1/system/log-level', { level })).data
        : await api.get<{ level: string }>('/v1/system/log-level');
      if (o.json) return printJson(out);
      println(level ? `log level is now ${out.level}` : out.level);
    });
}
