import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '@aiflock/protocol';
import { CLI } from '../testkit/cli.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { deployYaml, upFlock } from '../testkit/agents.js';

/*
 * The CLI habits operators bring from kubectl and docker (issue 21): `--json` errors as JSON,
 * a quiet exit when the reader of a pipe goes away, shell completion that works in bash, zsh
 * and fish, and `aiflock logs` across agents with selectors and --since.
 */
let flock: TestFlock;
let bin: string;

/** Runs `script` in `shell` with the flock's environment and `aiflock` on PATH. */
const shell = (cmd: string, args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(cmd, args, { env: { ...flock.env, PATH: `${bin}:${process.env['PATH']}` }, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  flock = await testFlock();
  await upFlock(flock);
  await Promise.all([deployYaml(flock, 'alpha', 'handlers: [shell, echo]\ntools: { shell: true }\n', 300_000), deployYaml(flock, 'beta', 'handlers: [echo]\n', 300_000)]);
  bin = await mkdtemp(join(tmpdir(), 'aiflock-bin-'));
  await writeFile(join(bin, 'aiflock'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  await chmod(join(bin, 'aiflock'), 0o755);
}, 420_000);

afterAll(async () => {
  await flock?.cleanup();
  if (bin) await rm(bin, { recursive: true, force: true });
});

describe('--json errors', () => {
  it('are JSON {error:{code,message}} on stderr, with the exit code, and nothing else', async () => {
    const missing = await flock.cli(['agent', 'get', 'nope', '--json']);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr)).toEqual({ error: { code: 'agent_not_found', message: 'no agent named "nope" is deployed', details: { agent: 'nope' } } });

    const usage = await flock.cli(['agent', 'scale', 'alpha', 'many', '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr).error).toMatchObject({ code: 'usage', message: expect.stringContaining('replicas') });

    const unknown = await flock.cli(['agent', 'lst', '--json']);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stderr).error).toMatchObject({ code: 'usage.unknownCommand', message: expect.stringContaining('lst') });

    // Without --json, the same error is a line of text.
    const plain = await flock.cli(['agent', 'get', 'nope']);
    expect(plain.stderr).toBe('aiflock: no agent named "nope" is deployed\n');
  });
});

describe('a closed pipe', () => {
  it('a reader that goes away early ends the CLI quietly, with no EPIPE stack', async () => {
    // `true` never reads: by the time the CLI has its answer and writes, the pipe is closed.
    const r = await shell('bash', ['-o', 'pipefail', '-c', 'aiflock agent schema | true && aiflock audit search --limit 1000 --json | head -c 1 >/dev/null']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 240_000);
});

describe('/metrics', () => {
  it('passes promtool check metrics', async () => {
    const res = await flock.api('/metrics');
    expect(res.status).toBe(200);
    const text = String(res.body);
    expect(text).toContain('aiflock_bus_connected 1');
    expect(text).toContain('aiflock_audit_chain_intact 1');
    const r = await new Promise<{ code: number; out: string }>((done) => {
      const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => done({ code: err ? 1 : 0, out: stdout + stderr }));
      child.stdin!.end(text);
    });
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('shell completion', () => {
  it('bash completes commands, subcommands, options and agent names', async () => {
    const complete = async (...words: string[]) => {
      const script = `source <(aiflock completion bash); COMP_WORDS=(aiflock ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _aiflock; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await shell('bash', ['-c', script]);
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    expect(await complete('agent', 'sc')).toEqual(['scale', 'schema']);
    expect(await complete('agent', 'get', '--j')).toEqual(['--json']);
    expect(await complete('agent', 'get', '')).toEqual(['alpha', 'beta']);
  }, 240_000);

  it('zsh offers the same candidates with their descriptions', async () => {
    // compinit is interactive machinery; the script's own logic is what is tested: it hands
    // _describe "word:description" pairs for the words typed.
    const script = `compdef() { :; }; _describe() { print -l -- "\${(@P)2}"; }
source <(aiflock completion zsh)
words=(aiflock agent q); CURRENT=3; _aiflock`;
    const r = await shell('zsh', ['-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^quarantine:freeze an agent/m);
    expect(r.stdout).toMatch(/^deploy:deploy an agent/m);
  }, 240_000);

  it('fish completes through its own `complete -C`', async () => {
    const r = await shell('fish', ['-c', 'aiflock completion fish | source; complete -C "aiflock agent rel"; complete -C "aiflock agent logs "']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^release\tundo quarantine/m);
    expect(r.stdout).toMatch(/^alpha\t/m);
    expect(r.stdout).toMatch(/^beta\t/m);
  }, 240_000);

  it('refuses a shell it does not know', async () => {
    const r = await flock.cli(['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/use bash, zsh or fish/);
  });
});

describe('aiflock logs', () => {
  it('shows every agent, or those a selector picks, and only lines since --since', async () => {
    const all = await flock.cli(['logs', '--json', '--tail', '1000']);
    expect(all.code, all.stderr).toBe(0);
    const agents = (out: string) => new Set(out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as LogLine).agent));
    expect(agents(all.stdout)).toEqual(new Set(['alpha', 'beta']));

    const shellOnly = await flock.cli(['logs', '-l', 'handler=shell', '--json']);
    expect(agents(shellOnly.stdout)).toEqual(new Set(['alpha']));

    const future = await flock.cli(['logs', '--since', new Date(Date.now() + 3_600_000).toISOString(), '--json']);
    expect(future.stdout).toBe('');

    expect((await flock.cli(['logs', '-l', 'colour=red'])).stderr).toMatch(/unknown key "colour"/);
    expect((await flock.cli(['logs', '--since', 'yesterday-ish'])).code).toBe(2);
  }, 300_000);

  it('-f follows new lines of the agents picked', async () => {
    const child = execFile(process.execPath, [CLI, 'logs', '-f', '--since', '1s', 'alpha'], { env: flock.env });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await flock.cli(['agent', 'scale', 'alpha', '2']);
      await eventually(async () => (out.includes('alpha-') ? true : null), 'a new line of alpha while following', 60_000);
      expect(out).not.toMatch(/beta-/);
    } finally {
      child.kill('SIGINT');
    }
  }, 240_000);

  it('stats shows CPU, memory, network and restarts per instance, from the runtime', async () => {
    const s = await flock.cliJson<{ perInstance: { id: string; agent: string; usage: { cpuPercent: number; memoryBytes: number; memoryLimitBytes: number; netRxBytes: number; restarts: number } | null }[] }>(['stats', '--json']);
    const alpha = s.perInstance.filter((i) => i.agent === 'alpha');
    expect(alpha.length).toBeGreaterThan(0);
    for (const i of alpha) {
      expect(i.usage, i.id).not.toBeNull();
      expect(i.usage!.memoryBytes).toBeGreaterThan(0);
      // The manifest's default memory limit (256Mi), as Docker enforces it.
      expect(i.usage!.memoryLimitBytes).toBe(256 * 1024 ** 2);
      expect(i.usage!.netRxBytes).toBeGreaterThan(0);
      expect(i.usage!.restarts).toBe(0);
    }
  }, 240_000);
});
