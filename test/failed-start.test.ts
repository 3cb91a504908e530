import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * A first start that fails part way (here: its API port is taken) leaves nothing of itself
 * behind: not the flock's Docker network, not its firewall chains, not the nats-server it
 * spawned. Then, with the port free, the same flock starts.
 */
let flock: TestFlock;
let squatter: Server;
const held = new Set<Socket>();

const networks = () => execFileSync('docker', ['network', 'ls', '--format', '{{.Name}}'], { encoding: 'utf8' }).split('\n');
const chains = () => execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`-${flock.name}`));
const natsPid = () => {
  const file = join(flock.home, 'nats', 'nats.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : null;
};

beforeAll(async () => {
  flock = await testFlock();
  // Accepts connections and never answers, as a program that is not an aiflock daemon would.
  squatter = createServer((s) => void held.add(s));
  const port = Number(new URL(flock.apiUrl).port);
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
});

afterAll(async () => {
  squatter?.close();
  await flock?.cleanup();
});

describe('a failed first start', () => {
  it('exits non-zero saying why, and leaves no network, firewall chain or nats-server behind', async () => {
    const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 180_000 });
    expect(up.code, up.stdout).toBe(1);
    // Told why, naming what to change.
    expect(up.stderr).toMatch(/the daemon exited with code 1 while starting/);
    expect(up.stderr).toMatch(/the API address 127\.0\.0\.1:\d+ is already in use by another program; give the daemon another port \(AIFLOCK_API_PORT/);
    const log = readFileSync(join(flock.home, 'daemon.log'), 'utf8');
    // It got as far as making them (so their absence below means they were removed).
    expect(log).toMatch(/started nats-server \(pid \d+\)/);
    expect(log).toContain('the start failed: removed the network, firewall chains and nats-server it had made');
    expect(networks()).not.toContain(`aiflock-${flock.name}`);
    expect(chains()).toEqual([]);
    const pid = Number(/started nats-server \(pid (\d+)\)/.exec(log)![1]);
    expect(isAlive(pid)).toBe(false);
    expect(natsPid() === null || !isAlive(natsPid()!)).toBe(true);
  }, 200_000);

  it('starts once the port is free', async () => {
    const closed = new Promise<void>((r) => squatter.close(() => r()));
    for (const s of held) s.destroy();
    await closed;
    const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 180_000 });
    expect(up.code, up.stderr).toBe(0);
    expect(networks()).toContain(`aiflock-${flock.name}`);
    expect(chains().length).toBeGreaterThan(0);
  }, 200_000);
});
