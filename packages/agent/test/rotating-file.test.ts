import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../src/logger.js';

/** Issue 16: the per-instance log file must not grow without bound. */
describe('the agent log file', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'aiflock-logrot-'));
    dirs.push(d);
    return d;
  };

  it('a flood of lines leaves at most keep+1 files, none over the size, the newest line in the current one', async () => {
    const dir = fresh();
    const file = join(dir, 'agent.log');
    const log = new Logger({ instanceId: 'chatty-ab12cd34', agent: 'chatty', stdout: false, file, fileMaxBytes: 8192, fileKeep: 2 });
    for (let i = 0; i < 2000; i++) log.info(`line ${i} ${'x'.repeat(100)}`);
    await log.close();
    expect(readdirSync(dir).sort()).toEqual(['agent.log', 'agent.log.1', 'agent.log.2']);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(8192);
    expect(readFileSync(file, 'utf8')).toContain('line 1999 ');
    // Rotated in order: .1 is newer than .2, and every line is whole JSON.
    const lastOf = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8').trim().split('\n').pop()!) as { msg: string };
    expect(Number(lastOf('agent.log.1').msg.split(' ')[1])).toBeGreaterThan(Number(lastOf('agent.log.2').msg.split(' ')[1]));
  });

  it('a line longer than the whole size is cut to it; keep 0 keeps no old file', async () => {
    const dir = fresh();
    const file = join(dir, 'agent.log');
    const log = new Logger({ instanceId: 'chatty-ab12cd34', agent: 'chatty', stdout: false, file, fileMaxBytes: 4096, fileKeep: 0 });
    log.info('y'.repeat(50_000));
    log.info('after');
    await log.close();
    expect(readdirSync(dir)).toEqual(['agent.log']);
    expect(statSync(file).size).toBeLessThanOrEqual(4096);
    expect(readFileSync(file, 'utf8')).toContain('"msg":"after"');
  });
});
