import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real terminal for full-screen CLI tests: a detached tmux session on a private server
 * socket (so tests never share a tmux server, or touch a developer's), running one command.
 */
export interface Terminal {
  /** The screen as text; with `escapes`, with its colour and style sequences. `joined` joins wrapped lines, so a wrap shows as a line longer than the screen. */
  capture(opts?: { escapes?: boolean; joined?: boolean }): Promise<string>;
  /** Keys as tmux names them (`q`, `C-c`, `Enter`) or literal text with `literal`. */
  send(keys: string, literal?: boolean): Promise<void>;
  resize(cols: number, rows: number): Promise<void>;
  /** A tmux format variable of the pane, e.g. `alternate_on`. */
  pane(variable: string): Promise<string>;
  /**
   * The command's exit status once it has ended, else null. Recorded by the terminal's own
   * script, not read from tmux: tmux 3.3a marks a pane dead when its pty closes and only takes
   * the status from SIGCHLD, and when the close wins that race `pane_dead_status` stays empty
   * for good (one exit in four here; tmux/tmux#4841), which looked like a command that never ended.
   */
  exitStatus(): Promise<number | null>;
  kill(): Promise<void>;
}

function tmux(socket: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('tmux', ['-S', socket, ...args], { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`tmux ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

export async function openTerminal(command: string, opts: { cols: number; rows: number; env: NodeJS.ProcessEnv }): Promise<Terminal> {
  const dir = mkdtempSync(join(tmpdir(), 'aiflock-tmux-'));
  const socket = join(dir, 'sock');
  const session = `t${randomBytes(4).toString('hex')}`;
  // The command runs from a script, so the environment reaches it whatever tmux's server has.
  const script = join(dir, 'run.sh');
  const exports = Object.entries(opts.env)
    .filter(([k, v]) => v !== undefined && /^[A-Z_][A-Z0-9_]*$/.test(k))
    .map(([k, v]) => `export ${k}='${String(v).replace(/'/g, `'\\''`)}'`)
    .join('\n');
  const status = join(dir, 'status');
  // The status file appears whole (written, then renamed) once the command has ended.
  writeFileSync(script, `${exports}\nexport TERM=xterm-256color\n${command}\necho $? > '${status}.tmp' && mv '${status}.tmp' '${status}'\n`, { mode: 0o700 });
  // The pane stays after the command ends (so what it left, the main or alternate screen, can
  // still be read; tmux clears what it showed), and the window keeps the size it is given rather than following a client's.
  await tmux(socket, ['-f', '/dev/null', 'new-session', '-d', '-s', session, '-x', String(opts.cols), '-y', String(opts.rows), `bash ${script}`, ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'set-option', '-g', 'window-size', 'manual', ';', 'set-option', '-g', 'status', 'off']);
  const target = `${session}:0.0`;
  return {
    capture: (o = {}) => tmux(socket, ['capture-pane', '-p', '-t', target, ...(o.escapes ? ['-e'] : []), ...(o.joined ? ['-J'] : [])]),
    send: async (keys, literal) => void (await tmux(socket, ['send-keys', '-t', target, ...(literal ? ['-l'] : []), keys])),
    resize: async (cols, rows) => void (await tmux(socket, ['resize-window', '-t', session, '-x', String(cols), '-y', String(rows)])),
    pane: async (variable) => (await tmux(socket, ['display-message', '-p', '-t', target, `#{${variable}}`])).trim(),
    exitStatus: async () => {
      const text = await readFile(status, 'utf8').catch(() => null);
      return text === null ? null : Number(text.trim());
    },
    kill: async () => {
      await tmux(socket, ['kill-server']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
