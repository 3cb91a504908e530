import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { AgentView, DeployResponse } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { age, printJson, println, progress, table } from '../output.js';
import { printLogs, toInt } from './shared.js';
import { agentConvertCommand } from './agent-convert.js';
import { agentRevisionCommands } from './agent-revisions.js';
import { agentExecCommand } from './agent-exec.js';
import { agentRestartCommands } from './agent-restart.js';

export function agentCommand(program: Command, client: () => ApiClient): void {
  const agent = program.command('agent').description('deploy and manage agents');

  agent
    .command('deploy')
    .description('deploy an agent from agent.yaml or agent.md (ours or the CIM dialect), or a stored revision by sha256:<digest> or CID (same manifest again is a no-op)')
    .argument('<manifest>', 'path to agent.yaml or agent.md, or sha256:<digest>, or a CIDv1 (bafkrei...)')
    .option('--set <path=value>', 'override a manifest field, e.g. resources.memory=1Gi (repeatable; stored in the revision)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { json?: boolean; set: string[] }) => {
      const body = isManifestRef(file) ? { ref: file } : { manifest: await readManifest(file), filename: basename(file) };
      try {
        const out = await client().post<DeployResponse>('/v1/agents', { ...body, ...(o.set.length > 0 ? { set: o.set } : {}) });
        if (o.json) return printJson(out);
        for (const n of out.notes ?? []) progress(`note: ${n.field}: ${n.message}`);
        const rev = out.revision ? `revision ${out.revision}, ` : '';
        println(`${out.changed ? 'deployed' : 'unchanged'} ${out.agent.name} ${out.agent.version} (${rev}${out.agent.digest.slice(0, 19)}), ${out.agent.replicas.desired} replica(s)`);
      } catch (err) {
        throw manifestError(err, file);
      }
    });

  agent
    .command('list')
    .description('list deployed agents')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { agents } = await client().get<{ agents: AgentView[] }>('/v1/agents');
      if (o.json) return printJson(agents);
      if (agents.length === 0) return println('no agents deployed (try: aiflock agent deploy examples/echo.agent.yaml)');
      println(
        table(
          ['NAME', 'STATUS', 'READY', 'VERSION', 'HANDLERS', 'AGE'],
          agents.map((a) => [a.name, a.status, `${a.replicas.ready}/${a.replicas.desired}`, a.version, a.handlers.join(','), age(a.createdAt)]),
        ),
      );
    });

  agent
    .command('get')
    .description('show one agent and its instances')
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const a = await client().get<AgentView>(`/v1/agents/${encodeURIComponent(name)}`);
      if (o.json) return printJson(a);
      println(`name:        ${a.name}`);
      println(`status:      ${a.status} (${a.replicas.ready}/${a.replicas.desired} ready)`);
      println(`version:     ${a.version}   digest: ${a.digest}`);
      println(`image:       ${a.image}   profile: ${a.profile}`);
      println(`handlers:    ${a.handlers.join(', ')}`);
      println(`resources:   ${a.resources.cpu} cpu, ${Math.round(a.resources.memoryBytes / 1024 ** 2)} MiB, ${a.resources.pids} pids, task timeout ${a.resources.taskTimeoutMs / 1000}s`);
      if (a.description) println(`description: ${a.description}`);
      if (a.pending) println(`pending:     ${a.pending}`);
      if (a.warm) println(`warm pool:   ${a.warm.ready}/${a.warm.wanted} sandboxes ready for new instances`);
      println();
      if (a.instances.length === 0) return println('no instances');
      println(
        table(
          ['INSTANCE', 'STATUS', 'HEALTH', 'STARTED', 'HEARTBEAT', 'NODE', 'EXIT'],
          a.instances.map((i) => [i.id, i.status, i.health ?? '-', age(i.startedAt), age(i.lastHeartbeatAt), i.node, i.oomKilled ? 'oom_killed' : (i.exitCode ?? '-')]),
        ),
      );
    });

  agent
    .command('logs')
    .description("show an agent's logs (all its instances)")
    .argument('<name>')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <n>', 'how many recent lines', '200')
    .option('--json', 'one JSON object per line')
    .action(async (name: string, o: { follow?: boolean; tail: string; json?: boolean }) => {
      const tail = toInt(o.tail, '--tail');
      await printLogs(client(), `/v1/agents/${encodeURIComponent(name)}/logs?tail=${tail}`, { follow: o.follow, json: o.json, withInstance: true });
    });

  agent
    .command('scale')
    .description('set the number of replicas')
    .argument('<name>')
    .argument('<replicas>', 'a whole number from 0 to 100')
    .option('--json', 'print as JSON')
    .action(async (name: string, n: string, o: { json?: boolean }) => {
      const a = await client().post<AgentView>(`/v1/agents/${encodeURIComponent(name)}/scale`, { replicas: toInt(n, 'replicas') });
      if (o.json) return printJson(a);
      println(`scaled ${a.name} to ${a.replicas.desired} replica(s)`);
    });

  agent
    .command('stop')
    .description('stop all instances of an agent; queued tasks wait until it is deployed or scaled again')
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const a = await client().post<AgentView>(`/v1/agents/${encodeURIComponent(name)}/stop`);
      if (o.json) return printJson(a);
      println(`stopped ${a.name}`);
    });

  const admin = (verb: string, description: string, done: string) =>
    agent
      .command(verb)
      .description(description)
      .argument('<name>')
      .option('--json', 'print as JSON')
      .action(async (name: string, o: { json?: boolean }) => {
        const a = await client().post<AgentView>(`/v1/agents/${encodeURIComponent(name)}/${verb}`);
        if (o.json) return printJson(a);
        println(`${done} ${a.name} (${a.status})`);
      });
  admin('quarantine', 'freeze an agent: pause its instances, cut their network and credentials, keep files and logs (undo with release)', 'quarantined');
  admin('release', 'undo quarantine: network back, instances resume', 'released');
  admin('kill', 'stop every instance of an agent at once (SIGKILL) and leave the agent stopped', 'killed');

  agent
    .command('remove')
    .alias('rm')
    .description('remove an agent, its instances and its queue')
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      await client().request('DELETE', `/v1/agents/${encodeURIComponent(name)}`);
      if (o.json) return printJson({ removed: name });
      println(`removed ${name}`);
    });

  agent
    .command('schema')
    .description('print the manifest JSON Schema (for editors and validators)')
    .action(async () => printJson(await client().get('/v1/schemas/agent-manifest.json')));

  agentConvertCommand(agent, client);
  agentRevisionCommands(agent, client);
  agentExecCommand(agent, client);
  agentRestartCommands(agent, client);
}

/** A stored manifest named by content, rather than a file: sha256:<hex>, or a CIDv1 when no such file exists. */
function isManifestRef(arg: string): boolean {
  return arg.startsWith('sha256:') || (/^b[a-z2-7]{40,}$/.test(arg) && !existsSync(arg));
}

async function readManifest(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${err.code ?? err.message}`, EXIT.usage);
  });
}

function manifestError(err: unknown, file: string): unknown {
  if (!(err instanceof CliError) || err.code !== 'manifest_invalid') return err;
  return new CliError(err.message.replace(/^[^:]+: /, `${file}: `), EXIT.usage, err.code, err.details);
}
