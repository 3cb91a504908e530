import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress } from '../output.js';
import { REPO_ROOT } from '../paths.js';

interface OperatorCreds {
  id: string;
  name: string;
  issuedAt: string;
  expiresAt: string | null;
  revoked: boolean;
}

const DAEMON_MAIN = join(REPO_ROOT, 'packages', 'daemon', 'dist', 'main.js');

export function natsCommand(program: Command, client: () => ApiClient): void {
  const nats = program.command('nats').description("the flock's NATS bus: operator credentials and external-server setup");

  nats
    .command('creds')
    .description('issue operator credentials (a .creds file with full rights in the flock account) for the nats CLI and other tools; admin only, audited')
    .option('--name <name>', 'a name for the credentials, shown in the audit log and the server', 'operator')
    .option('--ttl <seconds>', 'lifetime in seconds (60 to 2592000)', '3600')
    .option('-o, --output <file>', 'write the .creds file here (mode 0600) instead of stdout')
    .option('--json', 'print {name, ttlSeconds, creds} as JSON')
    .action(async (o: { name: string; ttl: string; output?: string; json?: boolean }) => {
      const ttlSeconds = Number(o.ttl);
      if (!Number.isInteger(ttlSeconds)) throw new CliError(`--ttl must be a whole number of seconds, not "${o.ttl}"`, EXIT.usage);
      const r = await client().post<{ id: string; name: string; ttlSeconds: number; creds: string }>('/v1/system/bus-credentials', { name: o.name, ttlSeconds });
      if (o.output) {
        await writeFile(o.output, r.creds, { mode: 0o600 });
        if (o.json) return printJson({ id: r.id, name: r.name, ttlSeconds: r.ttlSeconds, file: o.output });
        return println(`credentials "${r.name}" (${r.id}) written to ${o.output}, valid for ${r.ttlSeconds} s; revoke with: aiflock nats revoke-creds ${r.id}`);
      }
      if (o.json) return printJson(r);
      process.stdout.write(r.creds);
    });

  nats
    .command('list-creds')
    .description('operator credentials issued and not yet expired: id, name, expiry, revoked (never the credentials)')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { credentials } = await client().get<{ credentials: OperatorCreds[] }>('/v1/system/bus-credentials');
      if (o.json) return printJson(credentials);
      if (credentials.length === 0) return println('no operator credentials are live');
      for (const c of credentials) println(`${c.id}  ${c.name}  issued ${c.issuedAt}  expires ${c.expiresAt ?? 'never'}${c.revoked ? '  REVOKED' : ''}`);
    });

  nats
    .command('revoke-creds <id>')
    .description('revoke operator credentials before they expire (their connections are cut at once); admin only, audited')
    .option('--json', 'print the revoked record as JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const r = await client().post<OperatorCreds>(`/v1/system/bus-credentials/${encodeURIComponent(id)}/revoke`, {});
      if (o.json) return printJson(r);
      println(`revoked operator credentials "${r.name}" (${r.id})`);
    });

  nats
    .command('server-config')
    .description("print the lines an external NATS server needs to trust this flock (operator, system account, resolver); paste them into its config once")
    .option('--resolver-dir <dir>', "where the server keeps account JWTs (default: under the flock's data dir)")
    .action(async (o: { resolverDir?: string }) => {
      progress('reading (or creating) the flock trust chain in the data dir...');
      const child = spawn(process.execPath, [DAEMON_MAIN, 'nats-server-config', ...(o.resolverDir ? [o.resolverDir] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
      const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
      if (code !== 0) throw new CliError(`could not produce the server config (exit ${code})`, code === 2 ? EXIT.usage : EXIT.failure);
    });
}
