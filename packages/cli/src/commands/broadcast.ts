import type { Command } from 'commander';
import type { BroadcastMessage } from '@aiflock/protocol';
import type { ApiClient } from '../client.js';
import { printJson, println } from '../output.js';

/** `aiflock broadcast "<text>"` (admin): an announcement every running agent instance hears. */
export function broadcastCommand(program: Command, client: () => ApiClient): void {
  program
    .command('broadcast')
    .description('announce something to every running agent instance (admin); agents hear it through onBroadcast and log it')
    .argument('<text>', 'the announcement')
    .option('--json', 'print the message sent as JSON')
    .action(async (text: string, o: { json?: boolean }) => {
      const m = await client().post<BroadcastMessage>('/v1/broadcast', { text });
      if (o.json) return printJson(m);
      println(`broadcast ${m.id} sent`);
    });
}
