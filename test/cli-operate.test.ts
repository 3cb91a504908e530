import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '@aiflock/protocol';
import { CLI } from '../testkit/cli.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { deployYaml, upFlock } from '../testkit/agents.js';
import { openTerminal, type Terminal } from '../testkit/tmux.js';

/*
 * Every step here is a CLI process against a real daemon, hence the generous timeouts.
 *
 * What an operator does to a running agent by hand (issue 21): a command or a shell in its
 * sandbox (`agent exec`), as the sandbox's user, within its limits, audited; and `top`, a
 * full-screen dashboard, driven in a real terminal (tmux); restart and reset of an agent; and
 * `restore`, the inverse of `backup`.
 */
let flock: TestFlock;
/** alpha's owner: deployed it, may redeploy it, may not exec into it (admins only). */
let owner: { token: string; id: string };

/** Runs `script` with bash, the flock's environment and the built CLI as `aiflock`. */
const sh = (script: string, token?: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const env = { ...flock.env, AIFLOCK_CLI: CLI, ...(token ? { AIFLOCK_TOKEN: token } : {}) };
    execFile('bash', ['-o', 'pipefail', '-c', `aiflock() { "${process.execPath}" "$AIFLOCK_CLI" "$@"; }\n${script}`], { env, timeout: 120_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

interface AuditRow {
  actor: string;
  action: string;
  resource: string;
  outcome: string;
  details: Record<string, unknown>;
}
const audit = async (action: string): Promise<AuditRow[]> => (await flock.api(`/v1/audit?action=${action}&limit=100`)).body.entries as AuditRow[];
const running = async (name: string) => (await flock.cliJson<AgentView>(['agent', 'get', name])).instances.filter((i) => i.status === 'running').map((i) => i.id);

beforeAll(async () => {
  flock = await testFlock();
  await upFlock(flock);
  owner = await flock.cliJson<{ token: string; id: string }>(['token', 'create', '--name', 'alpha-owner', '--scope', 'agents:write']);
  await deployYaml(flock, 'alpha', `owner: ${owner.id}\nhandlers: [echo]\nresources: { cpu: 0.5, memory: 96Mi, pids: 48, taskTimeout: 30s }\n`, 300_000);
}, 420_000);

afterAll(async () => {
  await flock?.cleanup();
});

describe('agent exec', () => {
  it('runs a command as the sandbox user (uid 1001), within the sandbox limits, and its exit code is the CLI\'s', { timeout: 300_000 }, async () => {
    const id = await flock.cli(['agent', 'exec', 'alpha', '--', 'id', '-u']);
    expect(id).toMatchObject({ code: 0, stdout: '1001\n' });

    // The command joined the sandbox's cgroup: the manifest's memory and pids limits hold for it.
    const limits = await flock.cli([
      'agent', 'exec', 'alpha', '--', 'sh', '-c',
      // cgroup v2 or v1, whichever the host has; and the command's cgroup is the agent's (pid 1).
      'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; [ "$(cat /proc/1/cgroup)" = "$(cat /proc/self/cgroup)" ] && echo same-cgroup; grep NoNewPrivs /proc/self/status',
    ]);
    expect(limits.code).toBe(0);
    expect(limits.stdout.split('\n').slice(0, 3)).toEqual([String(96 * 1024 * 1024), '48', 'same-cgroup']);
    expect(limits.stdout).toMatch(/NoNewPrivs:\s+1/);

    const failed = await flock.cli(['agent', 'exec', 'alpha', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(failed).toMatchObject({ code: 7, stdout: 'out\n', stderr: 'err\n' });
  });

  it('names an instance by id, passes stdin with -i, and collects output with --json', { timeout: 300_000 }, async () => {
    const agent = await flock.cliJson<AgentView>(['agent', 'get', 'alpha']);
    const instance = agent.instances.find((i) => i.status === 'running')!.id;
    // wc ends only when it reads EOF: the end of the piped input reaches the command.
    const piped = await sh(`printf 'hello\\nflock\\n' | aiflock agent exec ${instance} -i -- wc -l`);
    expect(piped).toMatchObject({ code: 0, stdout: '2\n' });
    const cat = await sh(`printf 'hello\\nflock\\n' | aiflock agent exec alpha --instance ${instance} -i -- cat`);
    expect(cat).toMatchObject({ code: 0, stdout: 'hello\nflock\n', stderr: '' });
    const json = await flock.cli(['agent', 'exec', 'alpha', '--json', '--', 'sh', '-c', 'echo a; echo b >&2; exit 3']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({ instance, exitCode: 3, stdout: 'a\n', stderr: 'b\n' });
  });

  it('is audited: who ran what, and how it ended', { timeout: 300_000 }, async () => {
    await flock.cli(['agent', 'exec', 'alpha', '--', 'sh', '-c', 'exit 5']);
    const started = (await audit('agent.exec')).find((e) => JSON.stringify(e.details.command) === JSON.stringify(['sh', '-c', 'exit 5']));
    expect(started).toMatchObject({ action: 'agent.exec', resource: 'agent/alpha', outcome: 'ok', actor: expect.stringMatching(/^tok_/) });
    const ended = await eventually(async () => (await audit('agent.exec.end')).find((e) => e.details.exitCode === 5), 'the exec end in the audit log');
    expect(ended).toMatchObject({ resource: 'agent/alpha', outcome: 'ok', actor: started!.actor, details: { command: ['sh', '-c', 'exit 5'], instance: started!.details.instance } });
  });

  it('is for admins only: the agent\'s own owner is refused (forbidden), nothing runs, and the attempt is audited', { timeout: 300_000 }, async () => {
    expect((await flock.cliJson<AgentView>(['agent', 'get', 'alpha'])).owner).toBe(owner.id);
    // The owner may redeploy alpha (agents:write on an agent of hers) but not open a shell in it.
    const denied = await flock.cli(['agent', 'exec', 'alpha', '--json', '--', 'sh', '-c', 'touch /shared/agents/alpha/pwned'], { token: owner.token });
    expect(denied.code).toBe(7);
    expect(JSON.parse(denied.stderr).error).toMatchObject({ code: 'forbidden' });
    expect(JSON.parse(denied.stderr).error.message).toMatch(/lacks scope "admin"/);
    // By instance id, the same.
    const instance = (await running('alpha'))[0]!;
    const byInstance = await flock.cli(['agent', 'exec', instance, '--', 'id'], { token: owner.token });
    expect(byInstance.code).toBe(7);
    expect(byInstance.stderr).toMatch(/admin/);
    const reader = (await flock.cliJson<{ token: string }>(['token', 'create', '--name', 'reader', '--scope', 'agents:read'])).token;
    const weak = await flock.cli(['agent', 'exec', 'alpha', '--', 'id'], { token: reader });
    expect(weak.code).toBe(7);
    expect(weak.stderr).toMatch(/admin/);
    // Nothing ran: the file the attempt would have made is not there.
    expect((await flock.cli(['agent', 'exec', 'alpha', '--', 'ls', '-a', '/shared/agents/alpha'])).stdout).not.toContain('pwned');
    // Refused by the route's scope, so audited as every refused request is, naming the agent's path.
    const refused = await eventually(async () => (await audit('auth.denied')).find((e) => e.actor === owner.id), "the owner's refusal in the audit log");
    expect(refused).toMatchObject({ outcome: 'denied', resource: 'route:GET /v1/agents/:name/exec', details: { code: 'forbidden', scope: 'admin', path: '/v1/agents/alpha/exec' } });
    expect((await audit('agent.exec')).filter((e) => e.actor === owner.id)).toEqual([]);
  });

  it('says clearly what is wrong: no command, an unknown instance, an unknown agent', { timeout: 300_000 }, async () => {
    const none = await sh('aiflock agent exec alpha </dev/null');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give the command to run after --/);
    const unknown = await flock.cli(['agent', 'exec', 'alpha', '--instance', 'alpha-zzzzzzzz', '--', 'id']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/agent "alpha" has no instance alpha-zzzzzzzz/);
    const missing = await flock.cli(['agent', 'exec', 'nope', '--', 'id']);
    expect(missing.code).toBe(3);
  });
});

/** The built CLI in a tmux terminal of its own, with the flock's environment. */
const terminal = (args: string, cols: number, rows: number) => openTerminal(`"${process.execPath}" "${CLI}" ${args}`, { cols, rows, env: flock.env });
const screenShowing = (term: Terminal, what: (screen: string) => boolean, label: string) =>
  eventually(async () => {
    const screen = await term.capture();
    return what(screen) ? screen : '';
  }, label, 60_000);
const exited = (term: Terminal) => eventually(async () => term.exitStatus().then((code) => (code === null ? null : { code })), 'the command to exit', 30_000).then((r) => r.code);

describe('agent exec -it', () => {
  it('gives an interactive shell on a terminal of the client\'s size; its exit status is the CLI\'s', { timeout: 300_000 }, async () => {
    const term = await terminal('agent exec alpha -it', 100, 20);
    try {
      // tmux drops trailing blanks: the prompt `$ ` is captured as `$`.
      await screenShowing(term, (s) => /^\$ ?$/m.test(s), 'a shell prompt');
      // The small image has no tty or stty; node (the agent's runtime) reports the terminal.
      await term.send(`node -e 'console.log(require("tty").isatty(0), process.stdout.rows, process.stdout.columns)'; id -u`, true);
      await term.send('Enter');
      const screen = await screenShowing(term, (s) => /^1001$/m.test(s), 'the commands\' output');
      expect(screen).toMatch(/^true 20 100$/m);
      await term.send('exit 3', true);
      await term.send('Enter');
      // On a timeout, say what the terminal showed: the shell still there, or aiflock hanging after it.
      const status = await exited(term).catch(async (err: unknown) => {
        throw new Error(`${String(err)}; the screen:\n${await term.capture()}`);
      });
      expect(status).toBe(3);
    } finally {
      await term.kill();
    }
  });
});

describe('top', () => {
  it('is a full-screen dashboard: alternate screen, colours, no line wraps, follows a resize, keys sort, q quits', { timeout: 300_000 }, async () => {
    const term = await terminal('top -i 1', 80, 30);
    try {
      const screen = await screenShowing(term, (s) => /alpha-[a-z0-9]{8}/.test(s) && s.includes('q quit'), "top showing alpha's instance");
      expect(await term.pane('alternate_on')).toBe('1');
      expect(screen).toMatch(/^ aiflock top /m);
      expect(screen).toMatch(/^ alpha\s+running\s+1\/1/m);
      expect(screen).toMatch(/^ throughput [\d.]+\/s [▁▂▃▄▅▆▇█]+/m);
      // Drawn in colour: the status in green, the title bar inverse.
      const coloured = await term.capture({ escapes: true });
      expect(coloured).toMatch(/\x1b\[32mrunning/);
      expect(coloured).toMatch(/\x1b\[1;7m aiflock top|\x1b\[7;1m aiflock top|\x1b\[1m\x1b\[7m aiflock top/);
      // Joined, a wrapped line would be one longer than the screen: none is.
      const widths = (text: string) => text.split('\n').map((l) => [...l].length);
      expect(Math.max(...widths(await term.capture({ joined: true })))).toBeLessThanOrEqual(80);
      // Redrawn in place: after more refreshes there is still one title and one footer.
      const title = (text: string) => text.split('\n')[0];
      const later = await screenShowing(term, (s) => title(s) !== title(screen), 'a later frame (its clock moved on)');
      expect(later.match(/aiflock top/g)).toHaveLength(1);
      expect(later.match(/q quit/g)).toHaveLength(1);

      await term.resize(60, 18);
      await screenShowing(term, (s) => s.replace(/\n$/, '').split('\n').length === 18 && s.includes('q quit') && s.includes('INSTANCE'), 'top redrawn at 60x18');
      expect(Math.max(...widths(await term.capture({ joined: true })))).toBeLessThanOrEqual(60);

      await term.send('m');
      await screenShowing(term, (s) => s.includes('sorted by memory'), 'the memory sort');
      await term.send('q');
      expect(await exited(term)).toBe(0);
      // The terminal is given back: the main screen again.
      expect(await term.pane('alternate_on')).toBe('0');
    } finally {
      await term.kill();
    }
  });
});

describe('agent restart and reset', () => {
  it('restart replaces every instance with a new one of the same manifest', { timeout: 300_000 }, async () => {
    const before = await running('alpha');
    const { digest } = await flock.cliJson<AgentView>(['agent', 'get', 'alpha']);
    const out = await flock.cliJson<{ replaced: string[] }>(['agent', 'restart', 'alpha']);
    expect(out.replaced.sort()).toEqual([...before].sort());
    const after = await eventually(async () => {
      const ids = await running('alpha');
      return ids.length === 1 && !before.includes(ids[0]!) ? ids : null;
    }, 'a new alpha instance running', 120_000);
    expect((await flock.cliJson<AgentView>(['agent', 'get', 'alpha'])).digest).toBe(digest);
    expect((await audit('agent.restart'))[0]).toMatchObject({ resource: 'agent/alpha', outcome: 'ok', details: { replaced: before } });
    expect(after).toHaveLength(1);
  });

  it('reset asks for confirmation (refused without a terminal unless --yes), then empties the workspace and restarts', { timeout: 300_000 }, async () => {
    expect((await flock.cli(['agent', 'exec', 'alpha', '--', 'sh', '-c', 'echo kept > /shared/agents/alpha/notes.txt'])).code).toBe(0);
    const unconfirmed = await sh('aiflock agent reset alpha </dev/null');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/pass --yes/);
    expect((await flock.cli(['agent', 'exec', 'alpha', '--', 'cat', '/shared/agents/alpha/notes.txt'])).stdout).toBe('kept\n');

    const before = await running('alpha');
    const out = await flock.cliJson<{ replaced: string[]; workspaceWiped: boolean; memoriesForgotten: number }>(['agent', 'reset', 'alpha', '--yes']);
    expect(out).toMatchObject({ replaced: before, workspaceWiped: true });
    await eventually(async () => {
      const ids = await running('alpha');
      return ids.length === 1 && !before.includes(ids[0]!);
    }, 'a fresh alpha instance running', 120_000);
    const ls = await flock.cli(['agent', 'exec', 'alpha', '--', 'ls', '-A', '/shared/agents/alpha']);
    expect(ls).toMatchObject({ code: 0, stdout: '' });
    expect((await audit('agent.reset'))[0]).toMatchObject({ resource: 'agent/alpha', outcome: 'ok', details: { workspaceWiped: true } });
  });
});

describe('restore', () => {
  it('puts a backup back only while the flock is stopped, verifies its audit chain, and refuses a tampered or foreign file', { timeout: 600_000 }, async () => {
    const backup = join(flock.home, 'backup.db');
    expect((await flock.cli(['backup', backup])).code).toBe(0);
    // Made after the backup: gone once it is restored.
    await flock.cliJson(['token', 'create', '--name', 'after-backup', '--scope', 'agents:read']);

    const whileUp = await flock.cli(['restore', backup, '--json']);
    expect(whileUp.code).toBe(6);
    expect(JSON.parse(whileUp.stderr).error).toMatchObject({ code: 'restore_refused' });

    // A backup whose audit log was edited is refused, and the store is left as it was.
    const tampered = join(flock.home, 'tampered.db');
    await copyFile(backup, tampered);
    const db = new Database(tampered);
    db.prepare("UPDATE audit_log SET actor = 'someone-else' WHERE seq = (SELECT MIN(seq) FROM audit_log)").run();
    db.close();
    const foreign = join(flock.home, 'notes.txt');
    await writeFile(foreign, 'not a database\n');
    expect((await flock.cli(['down'])).code).toBe(0);
    const store = join(flock.home, 'flock.db');
    const digest = async () => createHash('sha256').update(await readFile(store)).digest('hex');
    const untouched = await digest();
    const bad = await flock.cli(['restore', tampered, '--json']);
    expect(bad.code).toBe(9);
    expect(JSON.parse(bad.stderr).error).toMatchObject({ code: 'audit_tampered', message: expect.stringMatching(/does not verify/) });
    const notDb = await flock.cli(['restore', foreign]);
    expect(notDb.code).toBe(2);
    expect(notDb.stderr).toMatch(/not a SQLite backup/);
    expect(await digest()).toBe(untouched);

    const restored = await flock.cli(['restore', backup, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    const result = JSON.parse(restored.stdout) as { store: string; previous: string; audit: { ok: boolean } };
    expect(result).toMatchObject({ store, audit: { ok: true }, previous: expect.stringContaining('flock.db.before-restore-') });

    expect((await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 })).code).toBe(0);
    const tokens = await flock.cliJson<{ name: string }[]>(['token', 'list']);
    expect(tokens.map((t) => t.name)).not.toContain('after-backup');
    expect(tokens.map((t) => t.name)).toContain('alpha-owner');
    const verify = await flock.cli(['audit', 'verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect((await audit('system.restore'))[0]).toMatchObject({ actor: 'system', outcome: 'ok', details: { backup } });
  });
});
