import { describe, expect, it } from 'vitest';
import { TaskResult } from '@aiflock/protocol';
import { parseRuntimeEnv } from '../src/env.js';
import { BoundedCapture } from '../src/handlers/capture.js';
import { encodeResult } from '../src/result-size.js';
import { TaskRegistry } from '../src/registry.js';
import { defineAgent } from '../src/sdk.js';
import { Logger } from '../src/logger.js';
import type { AgentEvent } from '@aiflock/protocol';

describe('parseRuntimeEnv', () => {
  const good = {
    AIFLOCK_INSTANCE_ID: 'scout-ab12cd34',
    AIFLOCK_AGENT: 'scout',
    AIFLOCK_NATS_URL: 'nats://127.0.0.1:4222',
    AIFLOCK_HANDLERS: 'echo,shell',
  };

  it('parses the contract with defaults', () => {
    const r = parseRuntimeEnv(good);
    expect(r.ok && r.env).toMatchObject({ AIFLOCK_HANDLERS: ['echo', 'shell'], AIFLOCK_HEARTBEAT_MS: 30_000, AIFLOCK_CONCURRENCY: 1 });
  });

  it('names every missing or bad variable in one line', () => {
    const r = parseRuntimeEnv({ ...good, AIFLOCK_INSTANCE_ID: undefined, AIFLOCK_CONCURRENCY: 'lots' });
    expect(r.ok).toBe(false);
    const error = r.ok ? '' : r.error;
    expect(error).toContain('AIFLOCK_INSTANCE_ID is not set');
    expect(error).toContain('AIFLOCK_CONCURRENCY is invalid');
    expect(error).not.toContain('\n');
  });

  it('rejects an instance id of another agent', () => {
    const r = parseRuntimeEnv({ ...good, AIFLOCK_AGENT: 'other' });
    expect(r.ok ? '' : r.error).toContain('is not an instance of AIFLOCK_AGENT other');
  });
});

describe('BoundedCapture', () => {
  it('keeps at most the limit and streams only complete lines under it', () => {
    const lines: string[] = [];
    const c = new BoundedCapture(10, (l) => lines.push(l));
    c.push(Buffer.from('ab\ncd'));
    c.push(Buffer.from('ef\r\n0123456789'));
    c.end();
    expect(c.truncated).toBe(true);
    expect(c.text()).toBe('ab\ncdef\r\n0\n… [truncated at 10 bytes]');
    expect(lines).toEqual(['ab', 'cdef', '0']);
  });

  it('splits a newline-free flood into bounded log lines', () => {
    const lines: string[] = [];
    const c = new BoundedCapture(1000, (l) => lines.push(l), 100);
    c.push(Buffer.from('x'.repeat(250)));
    c.end();
    expect(lines.map((l) => l.length)).toEqual([100, 100, 50]);
  });
});

describe('encodeResult', () => {
  const base: TaskResult = {
    agentId: 'scout-ab12cd34',
    taskId: 't_aaaaaaaaaaaaaaaaaaaaaaaa',
    status: 'completed',
    timestamp: new Date(0).toISOString(),
    result: 'ok',
    attempt: 1,
    durationMs: 1,
  };

  it('leaves a result that fits untouched', () => {
    const bytes = encodeResult({ ...base, output: { a: 1 } }, 1024 * 1024);
    expect(JSON.parse(new TextDecoder().decode(bytes))).toEqual({ ...base, output: { a: 1 } });
  });

  it('cuts long strings but keeps structure and stays a valid TaskResult', () => {
    const big = 'z'.repeat(2 * 1024 * 1024);
    const bytes = encodeResult({ ...base, result: big, output: { exitCode: 0, stdout: big } }, 1024 * 1024);
    expect(bytes.byteLength).toBeLessThanOrEqual(1024 * 1024);
    const back = TaskResult.parse(JSON.parse(new TextDecoder().decode(bytes)));
    expect(back.output).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/truncated \d+ characters/) });
  });
});

describe('TaskRegistry', () => {
  it('aborts a running task with reason "cancelled" and remembers early cancels', () => {
    const r = new TaskRegistry();
    const entry = r.add('t_1');
    expect(r.cancel('t_1', 'stop it')).toBe(true);
    expect(entry.controller.signal.reason).toBe('cancelled');
    expect(entry.cancelReason).toBe('stop it');
    expect(r.cancel('t_2', 'before delivery')).toBe(false);
    expect(r.takeEarlyCancel('t_2')).toBe('before delivery');
    expect(r.takeEarlyCancel('t_2')).toBeUndefined();
  });
});

describe('defineAgent', () => {
  it('rejects a handler that is not a function', () => {
    expect(() => defineAgent({ handlers: { x: 'nope' as unknown as () => Promise<string> } })).toThrow(/handler "x"/);
  });
});

describe('Logger levels (AIFLOCK_LOG_LEVEL, the manifest\'s logLevel)', () => {
  const logged = (level?: 'debug' | 'info' | 'warn' | 'error') => {
    const events: AgentEvent[] = [];
    const log = new Logger({ instanceId: 'a-1', agent: 'a', stdout: false, ...(level ? { level } : {}) });
    log.forwardTo((e) => void events.push(e));
    log.debug('d');
    log.forTask('t_00000000000000000000000000').info('i');
    log.warn('w');
    log.error('e');
    return events.map((e) => (e.type === 'log' ? e.msg : '?'));
  };

  it('drops lines below the level, info by default', () => {
    expect(logged()).toEqual(['i', 'w', 'e']);
    expect(logged('debug')).toEqual(['d', 'i', 'w', 'e']);
    expect(logged('warn')).toEqual(['w', 'e']);
  });

  it('reads the level from the environment, refusing one it does not know', () => {
    expect(parseRuntimeEnv({ AIFLOCK_INSTANCE_ID: 'scout-ab12cd34', AIFLOCK_AGENT: 'scout', AIFLOCK_NATS_URL: 'nats://127.0.0.1:4222', AIFLOCK_HANDLERS: 'echo', AIFLOCK_LOG_LEVEL: 'warn' })).toMatchObject({ ok: true, env: { AIFLOCK_LOG_LEVEL: 'warn' } });
    const bad = parseRuntimeEnv({ AIFLOCK_INSTANCE_ID: 'scout-ab12cd34', AIFLOCK_AGENT: 'scout', AIFLOCK_NATS_URL: 'nats://127.0.0.1:4222', AIFLOCK_HANDLERS: 'echo', AIFLOCK_LOG_LEVEL: 'loud' });
    expect(bad.ok).toBe(false);
  });
});
