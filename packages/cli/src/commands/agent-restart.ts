import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { AgentReset, AgentRestarted } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println } from '../output.js';

export function agentRestartCommands(agent: Command, client: () => ApiClient): void {
  agent
    .command('restart')
    .description('replace every instance with a new one of the same manifest (a running task is redelivered to the next)')
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const out = await client().post<AgentRestarted>(`/v1/agents/${encodeURIComponent(name)}/restart`);
      if (o.json) return printJson(out);
      println(`restarting ${name}: ${out.replaced.length ? `stopped ${out.replaced.join(', ')}` : 'no instance was running'}; new instances start now (watch: aiflock agent get ${name})`);
    });

  agent
    .command('reset')
    .description("forget what an agent accumulated — its memory stream and the files in its workspace — and restart it; logs, balance and task history stay")
    .argument('<name>')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { yes?: boolean; json?: boolean }) => {
      if (!o.yes) await confirm(`Reset agent "${name}": delete its memories and every file in its workspace, and restart it? This cannot be undone. Type the agent's name to confirm: `, name);
      const out = await client().post<AgentReset>(`/v1/agents/${encodeURIComponent(name)}/reset`);
      if (o.json) return printJson(out);
      println(`reset ${name}: ${out.memoriesForgotten} memories forgotten, workspace ${out.workspaceWiped ? 'emptied' : 'was already empty'}, ${out.replaced.length} instance(s) replaced`);
    });
}

/** As `gh repo delete` asks: the name typed back, on a terminal only; elsewhere --yes is required. */
async function confirm(question: string, expected: string): Promise<void> {
  if (!process.stdin.isTTY) throw new CliError('refusing to reset without confirmation: stdin is not a terminal; pass --yes', EXIT.usage);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(question)).trim();
    if (answer !== expected) throw new CliError(`not confirmed (typed "${answer}", expected "${expected}"); nothing was changed`, EXIT.usage);
  } finally {
    rl.close();
  }
}
