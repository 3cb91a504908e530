import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import type { NatsClusterFiles, NatsClusterServer } from '@aiflock/protocol';
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

  nats
    .command('cluster')
    .description(
      'write the configuration of a NATS cluster for this flock: one file per server (routes with a password, clustered JetStream, the flock\'s operator and a full resolver on each), and the NATS_URL that lists them; see docs/scale-out.md',
    )
    .option('--server <name=host[:client[:cluster[:monitor]]]>', 'a server of the cluster, once per server (at least three); ports default to 4222, 6222 and 8222', collect, [])
    .option('--name <cluster>', 'the cluster name (default: <flock>-nats)')
    .option('--store-dir <dir>', 'where each server keeps JetStream and account JWTs, under <dir>/<server name> on its host', '/var/lib/aiflock-nats')
    .option('--client-listen <address>', "where each server listens for clients (0.0.0.0: also its host's sandbox bridge)", '0.0.0.0')
    .option('-o, --out <dir>', 'write <server name>.conf files here (mode 0600: they hold the route password)', 'nats-cluster')
    .option('--json', 'print {cluster, natsUrl, files} as JSON')
    .action(async (o: { server: string[]; name?: string; storeDir: string; clientListen: string; out: string; json?: boolean }) => {
      if (o.server.length < 3) throw new CliError(`give at least three --server (got ${o.server.length}): a cluster of three loses one server and keeps a majority`, EXIT.usage);
      const layout = { ...(o.name ? { cluster: o.name } : {}), servers: o.server.map(parseServer), storeDir: o.storeDir, clientListen: o.clientListen };
      progress('reading (or creating) the flock trust chain in the data dir...');
      const child = spawn(process.execPath, [DAEMON_MAIN, 'nats-cluster-config', JSON.stringify(layout)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
      if (code !== 0) throw new CliError(`could not produce the cluster config (exit ${code})`, code === 2 ? EXIT.usage : EXIT.failure);
      const made = JSON.parse(out) as NatsClusterFiles;
      await mkdir(o.out, { recursive: true, mode: 0o700 });
      const files: { server: string; file: string }[] = [];
      for (const s of made.servers) {
        const file = join(o.out, `${s.name}.conf`);
        await writeFile(file, s.config, { mode: 0o600 });
        files.push({ server: s.name, file });
      }
      if (o.json) return printJson({ cluster: made.cluster, natsUrl: made.natsUrl, files });
      println(`cluster ${made.cluster}: ${files.length} server configs written`);
      for (const f of files) println(`  ${f.server}: ${f.file}   (on its host: nats-server -c ${f.server}.conf)`);
      println(`then run the control plane with NATS_URL=${made.natsUrl}`);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `name=host[:client[:cluster[:monitor]]]`; an IPv6 host goes in brackets. */
function parseServer(spec: string): NatsClusterServer {
  const m = /^([^=]+)=(\[[^\]]+\]|[^:]+)((?::\d+){0,3})$/.exec(spec);
  if (!m) throw new CliError(`--server "${spec}" is not name=host[:clientPort[:clusterPort[:monitorPort]]]`, EXIT.usage);
  const [clientPort = 4222, clusterPort = 6222, monitorPort = 8222] = m[3]!.split(':').slice(1).map(Number);
  return { name: m[1]!, host: m[2]!, clientPort, clusterPort, monitorPort };
}
