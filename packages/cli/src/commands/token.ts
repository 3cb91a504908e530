import type { Command } from 'commander';
import { parseDuration } from '@aiflock/protocol';
import type { CreatedToken, TokenList, TokenView } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { age, printJson, println, progress, table } from '../output.js';

export function tokenCommand(program: Command, client: () => ApiClient): void {
  const token = program
    .command('token')
    .description('create, list and revoke API tokens (needs an admin token)')
    .addHelpText(
      'after',
      `
Scopes: admin (everything), human (what a person in the web UI does), and fine scopes such as
agents:read, agents:write, jobs:read, jobs:write, llm:invoke, context:read, context:write,
audit:read, metrics:read. An unknown scope is refused with the list of known ones.`,
    );

  token
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('-n, --name <name>', 'what the token is for, e.g. "ci" or "grafana"')
    .requiredOption('-s, --scope <scope...>', 'one or more scopes')
    .option('--expires <duration>', 'lifetime, e.g. 12h, 30d (default: never)')
    .option('--json', 'print as JSON')
    .action(async (o: { name: string; scope: string[]; expires?: string; json?: boolean }) => {
      const scopes = o.scope.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
      let expiresInMs: number | undefined;
      if (o.expires !== undefined) {
        const ms = parseDuration(o.expires);
        if (ms === null || ms < 1000) throw new CliError(`--expires must be a duration such as 12h or 30d, got "${o.expires}"`, EXIT.usage);
        expiresInMs = ms;
      }
      const t = await client().post<CreatedToken>('/v1/tokens', { name: o.name, scopes, ...(expiresInMs ? { expiresInMs } : {}) });
      if (o.json) return printJson(t);
      println(t.token);
      progress(`token ${t.id} "${t.name}" (${t.scopes.join(', ')})${t.expiresAt ? `, expires ${t.expiresAt}` : ''}. The secret above is shown only now.`);
    });

  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { tokens } = await client().get<TokenList>('/v1/tokens');
      if (o.json) return printJson(tokens);
      println(
        table(
          ['ID', 'NAME', 'SCOPES', 'CREATED', 'LAST USED', 'EXPIRES', 'STATE'],
          tokens.map((t) => [t.id, t.name, t.scopes.join(','), age(t.createdAt), age(t.lastUsedAt), t.expiresAt ?? 'never', state(t)]),
        ),
      );
    });

  token
    .command('revoke')
    .description('revoke a token; requests and sessions using it are refused from now on')
    .argument('<id>', 'token id (tok_...)')
    .option('--json', 'print as JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await client().post<TokenView>(`/v1/tokens/${encodeURIComponent(id)}/revoke`);
      if (o.json) return printJson(t);
      println(`token ${t.id} "${t.name}" revoked`);
    });
}

function state(t: TokenView): string {
  if (t.revoked) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}
