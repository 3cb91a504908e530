import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../testkit/flock.js';

/**
 * The deployment files for real hosts (deploy/systemd, deploy/nixos) against the real CLI:
 * every command a unit or the NixOS module starts is a command of this CLI (its `--help`
 * answers with that command's usage), every variable they name is documented in
 * docs/configuration.md, the units pass `systemd-analyze verify`, and the module parses and
 * evaluates (with a stub of the few `lib` functions it uses: nixpkgs is not on this machine).
 */
const SYSTEMD = join(REPO_ROOT, 'deploy', 'systemd');
const NIX = join(REPO_ROOT, 'deploy', 'nixos', 'aiflock.nix');
const CHECKOUT = '/opt/aiflock';
const run = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );
const onPath = (tool: string) => (process.env['PATH'] ?? '').split(':').some((d) => existsSync(join(d, tool)));

let home: string;
let units: { name: string; text: string }[];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'deploy-units-'));
  const names = (await readdir(SYSTEMD)).filter((f) => f.endsWith('.service')).sort();
  units = await Promise.all(names.map(async (name) => ({ name, text: await readFile(join(SYSTEMD, name), 'utf8') })));
});

afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

/** `aiflock <args> --help` with this checkout's built CLI: the usage line names exactly that command. */
async function expectCliCommand(args: string[], where: string): Promise<void> {
  const r = await run(process.execPath, [join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js'), ...args, '--help'], { ...process.env, AIFLOCK_HOME: home });
  expect(r.code, `${where}: aiflock ${args.join(' ')} --help\n${r.stderr}`).toBe(0);
  expect(r.stdout, where).toMatch(new RegExp(`^Usage: aiflock ${args.join(' ')} \\[options\\]`, 'm'));
}

describe('deploy/systemd', () => {
  it('has the control plane and the node agent, each starting a command of the CLI through the checkout launcher', async () => {
    expect(units.map((u) => u.name)).toEqual(['aiflock-node.service', 'aiflock.service']);
    expect(existsSync(join(REPO_ROOT, 'aiflock'))).toBe(true);
    for (const u of units) {
      const starts = [...u.text.matchAll(/^ExecStart=(.*)$/gm)].map((m) => m[1]!.trim());
      expect(starts, u.name).toHaveLength(1);
      const [bin, ...args] = starts[0]!.split(/\s+/);
      // The same checkout path in every unit: the launcher at its root.
      expect(bin, u.name).toBe(`${CHECKOUT}/aiflock`);
      await expectCliCommand(args, u.name);
      expect(u.text, u.name).toMatch(/^Environment=AIFLOCK_HOME=\/var\/lib\/aiflock$/m);
    }
  });

  it('names only variables docs/configuration.md documents', async () => {
    const documented = await readFile(join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    const texts = [...units.map((u) => [u.name, u.text] as const), ['aiflock.nix', await readFile(NIX, 'utf8')] as const];
    for (const [name, text] of texts) {
      const vars = new Set([...text.matchAll(/\b(AIFLOCK_[A-Z0-9_]+|NATS_URL)\b/g)].map((m) => m[1]!));
      expect(vars.size, name).toBeGreaterThan(0);
      for (const v of vars) expect(new RegExp(`\\b${v}\\b`).test(documented), `${name} names ${v}`).toBe(true);
    }
  });

  it.skipIf(!onPath('systemd-analyze'))('passes systemd-analyze verify (the checkout path pointed at this one)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'units-'));
    try {
      for (const u of units) await writeFile(join(dir, u.name), u.text.replaceAll(`${CHECKOUT}/`, `${REPO_ROOT}/`));
      const r = await run('systemd-analyze', ['verify', ...units.map((u) => join(dir, u.name))]);
      expect(r.code, r.stderr).toBe(0);
      // It reports problems of the units themselves by their names (unknown keys, bad values).
      expect(r.stderr.split('\n').filter((l) => units.some((u) => l.includes(u.name)))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/nixos/aiflock.nix', () => {
  it.skipIf(!onPath('nix-instantiate'))('parses, and its services start commands of the CLI from the checkout', async () => {
    const parsed = await run('nix-instantiate', ['--parse', NIX]);
    expect(parsed.code, parsed.stderr).toBe(0);
    const copy = join(home, 'aiflock.nix');
    await copyFile(NIX, copy);
    const r = await run('nix-instantiate', ['--eval', '--strict', '--json', '--arg', 'module', copy, join(REPO_ROOT, 'test', 'fixtures', 'nixos-module-eval.nix')]);
    expect(r.code, r.stderr).toBe(0);
    const services = JSON.parse(r.stdout) as Record<string, { execStart: string; path: string[] }>;
    expect(Object.keys(services).sort()).toEqual(['aiflock', 'aiflock-nats', 'aiflock-node']);
    const cli = `/nix/store/nodejs_20/bin/node ${CHECKOUT}/packages/cli/dist/main.js `;
    for (const name of ['aiflock', 'aiflock-node']) {
      const start = services[name]!.execStart;
      expect(start.startsWith(cli), `${name}: ${start}`).toBe(true);
      await expectCliCommand(start.slice(cli.length).split(/\s+/), name);
      // The runtimes' tools are on the service's PATH (NixOS gives services almost none).
      expect(services[name]!.path, name).toEqual(expect.arrayContaining(['/nix/store/iptables', '/nix/store/util-linux', '/nix/store/bubblewrap', '/nix/store/docker']));
    }
    expect(existsSync(join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js'))).toBe(true);
    expect(services['aiflock-nats']!.execStart).toBe('/nix/store/nats-server/bin/nats-server -c /etc/aiflock/nats/n1.conf');
  });
});
