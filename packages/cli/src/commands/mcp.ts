import type { Command } from 'commander';
import type { ApiClient } from '../client.js';

/**
 * Runs the stdio relay, loading the MCP SDK only then: it is large (with ajv under it), and
 * every other command of this CLI starts faster without it.
 */
export async function serveMcp(client: () => ApiClient, version: string): Promise<void> {
  const relay = await import('./mcp-relay.js');
  return relay.serveMcp(client, version);
}

/** `aiflock mcp`: every flock tool (agents, tasks, board, world, context) on stdio. */
export function mcpCommand(program: Command, client: () => ApiClient): void {
  program
    .command('mcp')
    .description('serve the flock as Model Context Protocol tools on stdio (agents, tasks, the board, the village, context), relaying to the daemon\'s /v1/mcp; the token needs the "mcp" scope')
    .addHelpText('after', '\nClaude Desktop (claude_desktop_config.json):\n  {"mcpServers": {"aiflock": {"command": "aiflock", "args": ["mcp"], "env": {"AIFLOCK_TOKEN": "afk_..."}}}}\nSee docs/mcp.md.')
    .action(async () => serveMcp(client, program.version() ?? '0.0.0'));
}
