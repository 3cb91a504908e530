import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../testkit/flock.js';

const CLI = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js');

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const COMMANDS = [
  [],
  ['up'],
  ['down'],
  ['status'],
  ['daemon'],
  ['agent'],
  ['agent', 'deploy'],
  ['agent', 'list'],
  ['agent', 'get'],
  ['agent', 'logs'],
  ['agent', 'scale'],
  ['agent', 'stop'],
  ['agent', 'remove'],
  ['agent', 'schema'],
  ['agent', 'quarantine'],
  ['agent', 'release'],
  ['agent', 'kill'],
  ['agent', 'convert'],
  ['agent', 'history'],
  ['agent', 'rollback'],
  ['agent', 'exec'],
  ['agent', 'restart'],
  ['agent', 'reset'],
  ['broadcast'],
  ['task'],
  ['task', 'run'],
  ['task', 'list'],
  ['task', 'get'],
  ['task', 'logs'],
  ['task', 'cancel'],
  ['task', 'answer'],
  ['chat'],
  ['audit'],
  ['audit', 'tail'],
  ['audit', 'search'],
  ['audit', 'verify'],
  ['audit', 'export'],
  ['backup'],
  ['restore'],
  ['nats'],
  ['nats', 'creds'],
  ['nats', 'list-creds'],
  ['nats', 'revoke-creds'],
  ['nats', 'server-config'],
  ['token'],
  ['token', 'create'],
  ['token', 'list'],
  ['token', 'revoke'],
  ['stats'],
  ['top'],
  ['log-level'],
  ['secret'],
  ['secret', 'set'],
  ['secret', 'list'],
  ['secret', 'remove'],
  ['economy'],
  ['economy', 'balance'],
  ['economy', 'ledger'],
  ['economy', 'reward'],
  ['economy', 'penalize'],
  ['economy', 'credit'],
  ['economy', 'tiers'],
  ['context'],
  ['context', 'ingest'],
  ['context', 'search'],
  ['context', 'export'],
  ['context', 'import'],
  ['context', 'reindex'],
  ['context', 'mcp'],
  ['mcp'],
];
const READS = [['agent', 'convert'], ['agent', 'history'], ['agent', 'rollback'], ['broadcast'], ['chat'], ['task', 'answer'], ['status'], ['agent', 'list'], ['agent', 'get'], ['agent', 'logs'], ['task', 'list'], ['task', 'get'], ['task', 'logs'], ['audit', 'tail'], ['audit', 'search'], ['audit', 'verify'], ['backup'], ['restore'], ['agent', 'exec'], ['agent', 'restart'], ['agent', 'reset'], ['nats', 'creds'], ['nats', 'list-creds'], ['token', 'list'], ['stats'], ['top'], ['log-level'], ['secret', 'list'], ['economy', 'balance'], ['economy', 'ledger'], ['economy', 'tiers'], ['economy', 'reward'], ['economy', 'penalize'], ['economy', 'credit'], ['context', 'ingest'], ['context', 'search'], ['context', 'import'], ['context', 'reindex']];

/** Each command's help, asked of the built CLI once and read by every check that needs it. */
const helps = new Map<string, ReturnType<typeof run>>();
const help = (cmd: string[]) => {
  const key = cmd.join(' ');
  if (!helps.has(key)) helps.set(key, run([...cmd, '--help']));
  return helps.get(key)!;
};

describe('aiflock command surface', () => {
  it.each(COMMANDS.map((c) => [c.join(' ') || '(root)', c] as const))('%s has --help', async (_name, cmd) => {
    const r = await help(cmd);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: aiflock/m);
  });

  it.each(READS.map((c) => [c.join(' '), c] as const))('%s offers --json', async (_name, cmd) => {
    expect((await help(cmd)).stdout).toContain('--json');
  });

  it('documents its exit codes and uses them', async () => {
    expect((await help([])).stdout).toContain('4  daemon unreachable');
    expect((await help([])).stdout).toContain('9  audit log tampered with');
    const unreachable = await run(['agent', 'list'], { ...process.env, AIFLOCK_API: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toContain('cannot reach the aiflock daemon');
    const mcpUnreachable = await run(['mcp'], { ...process.env, AIFLOCK_API: 'http://127.0.0.1:9' });
    expect(mcpUnreachable.code).toBe(4);
    expect(mcpUnreachable.stderr).toContain('cannot open an MCP session');
    const usage = await run(['task', 'run', 'echo']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("required option '-i, --input");
    expect((await run(['nonsense'])).code).toBe(2);
  });
});
