import type { Command } from 'commander';
import type { AgentView } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { parseSelector } from '../selectors.js';
import { instant, printLogs, toInt } from './shared.js';

/** `aiflock logs`: every agent's log lines in one stream, as `docker compose logs` does for services. */
export function logsCommand(program: Command, client: () => ApiClient): void {
  program
    .command('logs')
    .description('log lines of every agent, or of those a selector picks (-l), oldest first; -f to follow')
    .argument('[agents...]', 'only these agents (default: all)')
    .option('-l, --selector <selector>', 'pick agents by name, status, handler, profile, owner, image or version: key=value or key!=value, comma-separated, * matches anything (e.g. -l handler=shell,status!=stopped)')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--since <when>', 'only lines since a duration ago (10m, 2h) or an ISO time')
    .option('--tail <n>', 'how many recent lines first', '200')
    .option('--json', 'one JSON object per line')
    .action(async (names: string[], o: { selector?: string; follow?: boolean; since?: string; tail: string; json?: boolean }) => {
      const api = client();
      const q = new URLSearchParams({ tail: String(toInt(o.tail, '--tail')) });
      if (o.since) q.set('since', instant(o.since, '--since'));
      if (names.length || o.selector) {
        const { agents } = await api.get<{ agents: AgentView[] }>('/v1/agents');
        const unknown = names.filter((n) => !agents.some((a) => a.name === n));
        if (unknown.length) throw new CliError(`no agent named ${unknown.map((n) => `"${n}"`).join(', ')} is deployed`, EXIT.notFound);
        const pick = o.selector ? parseSelector(o.selector) : () => true;
        const chosen = agents.filter((a) => (names.length === 0 || names.includes(a.name)) && pick(a)).map((a) => a.name);
        if (chosen.length === 0) throw new CliError(`no agent matches ${o.selector ? `-l ${o.selector}` : names.join(' ')}`, EXIT.notFound);
        q.set('agents', chosen.join(','));
      }
      await printLogs(api, `/v1/logs?${q}`, { follow: o.follow, json: o.json, withInstance: true });
    });
}
