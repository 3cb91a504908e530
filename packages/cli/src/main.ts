#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ApiClient, CliError } from './client.js';
import { broadcastCommand } from './commands/broadcast.js';
import { agentCommand } from './commands/agent.js';
import { auditCommand } from './commands/audit.js';
import { chatCommand } from './commands/chat.js';
import { economyCommand } from './commands/economy.js';
import { backupCommand } from './commands/backup.js';
import { contextCommand } from './commands/context.js';
import { lifecycleCommands } from './commands/lifecycle.js';
import { mcpCommand } from './commands/mcp.js';
import { natsCommand } from './commands/nats.js';
import { secretCommand } from './commands/secret.js';
import { taskCommand } from './commands/task.js';
import { tokenCommand } from './commands/token.js';
import { statsCommands } from './commands/stats.js';
import { logLevelCommand } from './commands/log-level.js';
import { EXIT, EXIT_HELP } from './exit-codes.js';
import { apiToken, apiUrl } from './paths.js';

const program = new Command('aiflock')
  .description('aiflock: run fleets of AI agents in hardened sandboxes on a NATS bus')
  .version('0.1.0')
  .option('--api <url>', 'daemon API URL (default: $AIFLOCK_API, the running daemon, or http://127.0.0.1:8080)')
  .option('--token <token>', 'bearer token (default: $AIFLOCK_TOKEN, else <data dir>/admin.token)')
  .showHelpAfterError()
  .addHelpText('after', EXIT_HELP)
  .exitOverride();

const client = () => {
  const o = program.opts<{ api?: string; token?: string }>();
  return new ApiClient(apiUrl(o.api, process.env), () => apiToken(o.token, process.env));
};
lifecycleCommands(program, client);
agentCommand(program, client);
broadcastCommand(program, client);
taskCommand(program, client);
chatCommand(program, client);
auditCommand(program, client);
economyCommand(program, client);
backupCommand(program, client);
natsCommand(program, client);
tokenCommand(program, client);
statsCommands(program, client);
logLevelCommand(program, client);
secretCommand(program, client);
contextCommand(program, client);
mcpCommand(program, client);
for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return;
  }
  if (err instanceof CliError) {
    process.stderr.write(`aiflock: ${err.message}\n`);
    process.exitCode = err.exitCode;
    return;
  }
  process.stderr.write(`aiflock: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = EXIT.failure;
});
