#!/usr/bin/env node
import { Command } from 'commander';
import { ApiClient } from './client.js';
import { broadcastCommand } from './commands/broadcast.js';
import { modelsCommand } from './commands/models.js';
import { quietOnClosedPipe, reportError } from './errors.js';
import { agentCommand } from './commands/agent.js';
import { auditCommand } from './commands/audit.js';
import { chatCommand } from './commands/chat.js';
import { economyCommand } from './commands/economy.js';
import { backupCommand } from './commands/backup.js';
import { restoreCommand } from './commands/restore.js';
import { contextCommand } from './commands/context.js';
import { lifecycleCommands } from './commands/lifecycle.js';
import { mcpCommand } from './commands/mcp.js';
import { natsCommand } from './commands/nats.js';
import { nodeCommand } from './commands/node.js';
import { secretCommand } from './commands/secret.js';
import { taskCommand } from './commands/task.js';
import { tokenCommand } from './commands/token.js';
import { statsCommands } from './commands/stats.js';
import { topCommand } from './commands/top.js';
import { logLevelCommand } from './commands/log-level.js';
import { logsCommand } from './commands/logs.js';
import { completionCommands } from './commands/completion.js';
import { EXIT_HELP } from './exit-codes.js';
import { apiToken, apiUrl } from './paths.js';

const program = new Command('aiflock')
  .description('aiflock: run fleets of AI agents in hardened sandboxes on a NATS bus')
  .version('0.1.0')
  .option('--api <url>', 'daemon API URL (default: $AIFLOCK_API, the running daemon, or http://127.0.0.1:8080)')
  .option('--token <token>', 'bearer token (default: $AIFLOCK_TOKEN, else <data dir>/admin.token)')
  .showHelpAfterError()
  // Under --json the error is printed once, as JSON (errors.ts), not also as commander's text.
  .configureOutput({ writeErr: (text) => (process.argv.includes('--json') ? undefined : process.stderr.write(text)) })
  .addHelpText('after', EXIT_HELP)
  .exitOverride();

const client = () => {
  const o = program.opts<{ api?: string; token?: string }>();
  return new ApiClient(apiUrl(o.api, process.env), () => apiToken(o.token, process.env));
};
lifecycleCommands(program, client);
agentCommand(program, client);
broadcastCommand(program, client);
modelsCommand(program, client);
taskCommand(program, client);
chatCommand(program, client);
auditCommand(program, client);
economyCommand(program, client);
backupCommand(program, client);
restoreCommand(program, client);
natsCommand(program, client);
nodeCommand(program, client);
tokenCommand(program, client);
statsCommands(program, client);
topCommand(program, client);
logLevelCommand(program, client);
logsCommand(program, client);
completionCommands(program, client);
secretCommand(program, client);
contextCommand(program, client);
mcpCommand(program, client);
for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
}

quietOnClosedPipe();
program.parseAsync(process.argv).catch((err: unknown) => reportError(err, process.argv.includes('--json')));
