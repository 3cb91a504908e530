import type { Command } from 'commander';
import WebSocket from 'ws';
import { ExecServerMessage, INSTANCE_ID_PATTERN, type ExecClientMessage } from '@aiflock/protocol';
import { CliError, apiFailure, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson } from '../output.js';

interface ExecOptions {
  instance?: string;
  interactive?: boolean;
  tty?: boolean;
  json?: boolean;
}

export function agentExecCommand(agent: Command, client: () => ApiClient): void {
  agent
    .command('exec')
    .description("run a command in one of the agent's sandboxes, as its user and within its limits (admins only; audited); the command's exit code is aiflock's")
    .argument('<agent|instance>', 'the agent (its oldest running instance) or one instance id, e.g. echo-3k9x2m7q')
    .argument('[command...]', 'the command and its arguments, after --; without one, an interactive /bin/sh')
    .option('--instance <id>', 'which instance of the agent (see: aiflock agent get <name>)')
    .option('-i, --interactive', "keep the command's stdin open and send this terminal's input to it")
    .option('-t, --tty', 'allocate a terminal (for shells and full-screen programs; stdout and stderr then arrive together)')
    .option('--json', 'collect the output and print {instance, exitCode, stdout, stderr} as JSON')
    .addHelpText('after', '\nExamples:\n  aiflock agent exec echo -- id -u\n  aiflock agent exec echo -it            # a shell\n  echo hi | aiflock agent exec echo -i -- cat')
    .action(async (who: string, command: string[], o: ExecOptions) => {
      const { name, instance } = target(who, o.instance);
      let { interactive, tty } = o;
      if (command.length === 0) {
        if (!process.stdin.isTTY) throw new CliError('give the command to run after --, e.g. aiflock agent exec echo -- id (a shell needs a terminal)', EXIT.usage);
        command = ['/bin/sh'];
        interactive = tty = true;
      }
      if (tty && !process.stdin.isTTY) throw new CliError('-t needs a terminal on stdin; drop -t to pipe input (-i)', EXIT.usage);
      if (tty && o.json) throw new CliError('--json collects output and cannot drive a terminal; drop -t', EXIT.usage);
      const code = await runExec(client(), name, { command, instance, interactive: !!interactive, tty: !!tty, json: !!o.json });
      process.exitCode = code;
    });
}

/** `echo` or `echo-3k9x2m7q` (an instance names its agent before the last dash). */
function target(who: string, instance: string | undefined): { name: string; instance?: string } {
  if (!instance && INSTANCE_ID_PATTERN.test(who)) return { name: who.slice(0, who.lastIndexOf('-')), instance: who };
  return { name: who, instance };
}

interface Run {
  command: string[];
  instance?: string;
  interactive: boolean;
  tty: boolean;
  json: boolean;
}

async function runExec(api: ApiClient, name: string, r: Run): Promise<number> {
  const q = new URLSearchParams();
  for (const arg of r.command) q.append('cmd', arg);
  if (r.instance) q.set('instance', r.instance);
  if (r.tty) q.set('tty', 'true');
  if (r.interactive) q.set('stdin', 'true');
  if (r.tty && process.stdout.columns) {
    q.set('cols', String(process.stdout.columns));
    q.set('rows', String(process.stdout.rows));
  }
  const url = `${api.baseUrl.replace(/^http/, 'ws')}/v1/agents/${encodeURIComponent(name)}/exec?${q}`;
  const ws = new WebSocket(url, { headers: api.authorization() });
  const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  let started = '';
  const stdin = process.stdin;
  const restore: (() => void)[] = [];
  try {
    const code = await new Promise<number>((resolve, reject) => {
      // A refusal before the upgrade is an ordinary API error: its JSON body says why.
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += String(d)));
        res.on('end', () => reject(apiFailure(res.statusCode ?? 500, safeJson(body))));
      });
      ws.once('error', (err) => reject(new CliError(`cannot open the exec stream at ${url.split('?')[0]} (${err.message})`, EXIT.unreachable)));
      const sendMsg = (m: ExecClientMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
      ws.once('open', () => {
        if (!r.interactive) return;
        if (r.tty) {
          stdin.setRawMode(true);
          restore.push(() => stdin.setRawMode(false));
          const resize = () => sendMsg({ type: 'resize', cols: process.stdout.columns, rows: process.stdout.rows });
          process.stdout.on('resize', resize);
          restore.push(() => process.stdout.off('resize', resize));
        }
        const onData = (d: Buffer) => sendMsg({ type: 'stdin', data: d.toString('base64') });
        const onEnd = () => sendMsg({ type: 'eof' });
        stdin.on('data', onData);
        stdin.once('end', onEnd);
        restore.push(() => {
          stdin.off('data', onData);
          stdin.off('end', onEnd);
          stdin.pause();
        });
      });
      ws.on('message', (raw) => {
        const m = ExecServerMessage.safeParse(safeJson(String(raw)));
        if (!m.success) return;
        const msg = m.data;
        if (msg.type === 'started') started = msg.instance;
        else if (msg.type === 'stdout' || msg.type === 'stderr') {
          const bytes = Buffer.from(msg.data, 'base64');
          if (r.json) out[msg.type].push(bytes);
          else (msg.type === 'stdout' ? process.stdout : process.stderr).write(bytes);
        } else if (msg.type === 'exit') resolve(msg.code);
        else reject(new CliError(msg.message, EXIT.failure, msg.code));
      });
      ws.once('close', (code, reason) => reject(new CliError(`the exec stream closed before the command ended (${code}${reason.length ? `: ${String(reason)}` : ''})`, EXIT.failure)));
    });
    if (r.json) printJson({ instance: started, exitCode: code, stdout: Buffer.concat(out.stdout).toString('utf8'), stderr: Buffer.concat(out.stderr).toString('utf8') });
    return code;
  } finally {
    for (const undo of restore) undo();
    ws.close();
    // The command has ended: do not wait out ws's 30 s closing handshake if the daemon's side
    // of the close is slow to arrive (a loaded host), so aiflock exits with the command.
    setTimeout(() => ws.terminate(), 500).unref();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
