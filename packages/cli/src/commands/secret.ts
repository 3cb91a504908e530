import type { Command } from 'commander';
import type { SecretView } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { age, printJson, println, table } from '../output.js';

const MAX_STDIN = 64 * 1024 + 2;

/**
 * The value comes from stdin only: an argument would sit in shell history and in every
 * `ps` listing. One trailing newline (from `echo` or a file) is dropped.
 */
async function readValue(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('value (end with Ctrl-D): ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_STDIN) throw new CliError('the value on stdin is larger than 64 KiB', EXIT.usage);
    chunks.push(c);
  }
  const value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!value) throw new CliError('no value on stdin (try: printf %s "$TOKEN" | aiflock secret set NAME)', EXIT.usage);
  return value;
}

export function secretCommand(program: Command, client: () => ApiClient): void {
  const secret = program.command('secret').description('named secrets for agents (values are write-only)');

  secret
    .command('set')
    .description('create or replace a secret; the value is read from stdin, never from arguments')
    .argument('<name>', 'letters, digits, "_", "." or "-"')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const value = await readValue();
      const { status, data } = await client().request<SecretView>('PUT', `/v1/secrets/${encodeURIComponent(name)}`, { value });
      if (o.json) return printJson(data);
      println(`${status === 201 ? 'created' : 'updated'} secret ${data.name}`);
    });

  secret
    .command('list')
    .alias('ls')
    .description('list secret names (never values)')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { secrets } = await client().get<{ secrets: SecretView[] }>('/v1/secrets');
      if (o.json) return printJson(secrets);
      if (secrets.length === 0) return println('no secrets (add one with: aiflock secret set NAME < file)');
      println(table(['NAME', 'CREATED', 'UPDATED'], secrets.map((s) => [s.name, age(s.createdAt), age(s.updatedAt)])));
    });

  secret
    .command('remove')
    .alias('rm')
    .description('delete a secret; agents that reference it fail to start until it is set again')
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      await client().request('DELETE', `/v1/secrets/${encodeURIComponent(name)}`);
      if (o.json) return printJson({ removed: name });
      println(`removed secret ${name}`);
    });
}
