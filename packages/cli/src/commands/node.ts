import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { IssuedJoinToken, NodeInfo, NodeJoined } from '@aiflock/protocol';
import { ApiClient, CliError } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { age, printJson, println, table } from '../output.js';
import { homeDir, REPO_ROOT } from '../paths.js';
import { toInt } from './shared.js';

const NODE_AGENT_MAIN = join(REPO_ROOT, 'packages', 'daemon', 'dist', 'node-agent', 'main.js');

/** The node agent in the foreground; its exit code is the command's (3: the control plane removed the node). */
async function runNodeAgent(stateFile: string): Promise<number> {
  const child = spawn(process.execPath, [NODE_AGENT_MAIN, stateFile], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  return new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
/** GPUs a node reports, and whether its runtime can hand them to sandboxes at all. */
const gpuText = (c: NonNullable<NodeInfo['capacity']>) => (c.gpus.length === 0 ? 'none' : `${c.gpus.map((g) => g.name).join(', ')}${c.gpuSandboxes ? '' : ' (its runtime gives sandboxes none)'}`);
const labelText = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') || '-';
const state = (n: NodeInfo) => `${n.status}${n.drained ? ',drained' : n.draining ? ',draining' : n.cordoned ? ',cordoned' : ''}`;

/** `key=value` pairs, each a separate flag or comma-separated. */
function parseLabels(pairs: string[], allowRemove: boolean): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const p of pairs.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean)) {
    if (allowRemove && p.endsWith('-') && !p.includes('=')) out[p.slice(0, -1)] = null;
    else {
      const [k, ...rest] = p.split('=');
      if (!k || rest.length === 0) throw new CliError(`"${p}" is not a label: write key=value${allowRemove ? ', or key- to remove one' : ''}`, EXIT.usage);
      out[k] = rest.join('=');
    }
  }
  return out;
}

export function nodeCommand(program: Command, client: () => ApiClient): void {
  const node = program.command('node').description("the flock's hosts: join tokens, joining, labels, cordon and drain (docs/scale-out.md)");
  const token = node.command('token').description('join tokens for new hosts');

  token
    .command('create')
    .description('create a join token for `aiflock node join` (shown once, stored hashed, audited); admin only')
    .option('--ttl <seconds>', 'lifetime in seconds (60 to 2592000)', '3600')
    .option('--single-use', 'refuse the token after its first join')
    .option('--json', 'print {id, token, expiresAt, singleUse} as JSON')
    .action(async (o: { ttl: string; singleUse?: boolean; json?: boolean }) => {
      const r = await client().post<IssuedJoinToken>('/v1/nodes/tokens', { ttlSeconds: toInt(o.ttl, '--ttl'), singleUse: o.singleUse === true });
      if (o.json) return printJson(r);
      println(r.token);
      process.stderr.write(`join token ${r.id}${r.singleUse ? ', single-use' : ''}, expires ${r.expiresAt}; on the new host: aiflock node join <control-plane URL> --token <token>\n`);
    });

  node
    .command('join <url>')
    .description('join this host to the flock at <url> (its API) and run the node agent here in the foreground')
    .option('--join-token <token>', 'the join token from `aiflock node token create` (`--token <token>` works too)')
    .option('--name <name>', "this node's name (default: the host name, lower-cased)")
    .option('--label <key=value...>', "this node's labels (repeat, or comma-separate)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--runtime <kind>', 'how sandboxes run on this host: docker, process (bubblewrap) or vm (default: docker when it answers, else what is installed)')
    .option('--json', 'print the join as JSON before the node agent starts')
    .action(async (url: string, o: { joinToken?: string; name?: string; label: string[]; runtime?: string; json?: boolean }) => {
      if (o.runtime !== undefined && !['docker', 'process', 'vm'].includes(o.runtime)) throw new CliError(`--runtime "${o.runtime}" is not a runtime kind (docker, process, vm)`, EXIT.usage);
      // `--token` is the program's bearer-token flag; on join it can only mean the join token.
      const joinToken = o.joinToken ?? program.opts<{ token?: string }>().token;
      if (!joinToken) throw new CliError('node join needs the join token: --token <token> (make one on the control plane with: aiflock node token create)', EXIT.usage);
      const name = o.name ?? hostname().toLowerCase().split('.')[0]!.replace(/[^a-z0-9-]/g, '-');
      const labels = parseLabels(o.label, false) as Record<string, string>;
      const joined = await new ApiClient(url.replace(/\/$/, '')).post<NodeJoined>('/v1/nodes/join', { token: joinToken, name, labels });
      const dir = join(homeDir(process.env), 'node');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${name}.json`);
      // The credentials are the node's identity on the bus: readable by this user only.
      await writeFile(file, JSON.stringify({ name, natsUrl: joined.natsUrl, creds: joined.creds, inboxPrefix: joined.inboxPrefix, heartbeatMs: joined.heartbeatMs, flock: joined.flock, ...(o.runtime ? { runtime: o.runtime } : {}) }), { mode: 0o600 });
      if (o.json) printJson({ name, natsUrl: joined.natsUrl, heartbeatMs: joined.heartbeatMs, state: file });
      else println(`joined as node "${name}"; starting the node agent (state in ${file}; after a restart: aiflock node run --name ${name})`);
      process.exitCode = await runNodeAgent(file);
    });

  node
    .command('run')
    .description('run the node agent of a host that has joined already (what a systemd unit starts; no token needed)')
    .option('--name <name>', "the node's name, when this host joined more than one flock")
    .action(async (o: { name?: string }) => {
      const dir = join(homeDir(process.env), 'node');
      const joined = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
      const name = o.name ?? (joined.length === 1 ? joined[0] : undefined);
      if (!name || !joined.includes(name)) {
        throw new CliError(joined.length === 0 ? `this host has not joined a flock (no state in ${dir}): aiflock node join <url> --token <token>` : `say which node with --name (joined: ${joined.join(', ')})`, EXIT.usage);
      }
      process.exitCode = await runNodeAgent(join(dir, `${name}.json`));
    });

  node
    .command('list')
    .description('every node: status, labels, capacity and what runs there')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { nodes } = await client().get<{ nodes: NodeInfo[] }>('/v1/nodes');
      if (o.json) return printJson(nodes);
      println(
        table(
          ['NODE', 'STATUS', 'CPUS', 'MEMORY', 'ALLOCATED', 'INSTANCES', 'LABELS', 'HEARTBEAT'],
          nodes.map((n) => [
            n.local ? `${n.name} (control plane)` : n.name,
            state(n),
            n.capacity?.cpus ?? '-',
            n.capacity ? gib(n.capacity.memoryBytes) : '-',
            `${n.allocated.cpu} cpu, ${gib(n.allocated.memoryBytes)}`,
            n.instances.length,
            labelText(n.labels),
            n.local ? '-' : age(n.lastHeartbeatAt),
          ]),
        ),
      );
    });

  node
    .command('get <name>')
    .description('one node in full')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const n = await client().get<NodeInfo>(`/v1/nodes/${encodeURIComponent(name)}`);
      if (o.json) return printJson(n);
      println(`node:      ${n.name}${n.local ? ' (control plane)' : ''}`);
      println(`status:    ${state(n)}; last heartbeat ${n.local ? '-' : age(n.lastHeartbeatAt)}; joined ${n.joinedAt}`);
      println(`labels:    ${labelText(n.labels)}`);
      if (n.capacity) {
        println(`capacity:  ${n.capacity.cpus} cpus, ${gib(n.capacity.memoryBytes)}; runtimes ${n.capacity.runtimes.join(', ') || 'none'}; gpus ${gpuText(n.capacity)}`);
        println(`images:    ${n.capacity.images.join(', ') || 'none'}`);
      } else println('capacity:  not reported yet');
      println(`allocated: ${n.allocated.cpu} cpu, ${gib(n.allocated.memoryBytes)}${n.allocated.gpus ? `, ${n.allocated.gpus} GPU(s)` : ''}`);
      println(n.instances.length ? table(['INSTANCE', 'AGENT', 'STATUS'], n.instances.map((i) => [i.id, i.agent, i.status])) : 'no instances');
    });

  node
    .command('label <name> <labels...>')
    .description('set labels (key=value) or remove them (key-); admin only, audited')
    .option('--json', 'print the node as JSON')
    .action(async (name: string, pairs: string[], o: { json?: boolean }) => {
      const n = await client().post<NodeInfo>(`/v1/nodes/${encodeURIComponent(name)}/labels`, { labels: parseLabels(pairs, true) });
      if (o.json) return printJson(n);
      println(`node ${n.name} labels: ${labelText(n.labels)}`);
    });

  const toggle = (cmd: string, description: string, done: string) =>
    node
      .command(`${cmd} <name>`)
      .description(`${description}; admin only, audited`)
      .option('--json', 'print the node as JSON')
      .action(async (name: string, o: { json?: boolean }) => {
        const n = await client().post<NodeInfo>(`/v1/nodes/${encodeURIComponent(name)}/${cmd}`, {});
        if (o.json) return printJson(n);
        println(`node ${n.name} ${done} (${state(n)})`);
      });
  toggle('cordon', 'keep new instances off a node (what runs stays)', 'cordoned');
  toggle('uncordon', 'let a node take new instances again (also ends a drain)', 'uncordoned');
  toggle('drain', 'cordon a node and move its instances elsewhere before maintenance', 'draining');

  node
    .command('remove <name>')
    .description('forget a node and revoke its bus credentials (its agent is cut off); admin only, audited')
    .option('--json', 'print the removed node as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const { data: n } = await client().request<NodeInfo>('DELETE', `/v1/nodes/${encodeURIComponent(name)}`);
      if (o.json) return printJson(n);
      println(`node ${n.name} removed; its bus credentials are revoked`);
    });
}
