import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskStep, type AgentLoopSettings } from '@aiflock/protocol';
import { agentLoop, HandlerError, LlmError, TOOLS, type AgentLoopOutput } from '../../src/index.js';
import { fakeContext } from './fake-context.js';

const settings = (over: Partial<AgentLoopSettings> = {}): AgentLoopSettings => ({ tools: ['shell', 'files'], model: null, persona: 'You fix code.', maxSteps: 10, pauseDeadlineForHuman: true, ...over });
const call = (name: string, args: Record<string, unknown>, id = `c_${name}`) => ({ id, name, arguments: args });

async function failure(p: Promise<unknown>): Promise<HandlerError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HandlerError);
  return err as HandlerError;
}

describe('agent loop', () => {
  it('runs the tools the model asks for, feeds the results back and stops with the answer', async () => {
    const run = await fakeContext(
      [
        { text: 'Let me write the file.', toolCalls: [call('files', { op: 'write', path: 'a.txt', content: 'hello\n' })] },
        { toolCalls: [call('shell', { command: 'cat a.txt; echo oops >&2; exit 3' })] },
        (messages) => ({ text: `done: ${messages[messages.length - 1]!.content.split('\n')[0]}` }),
      ],
      'write a.txt',
    );
    const out = await agentLoop(settings(), TOOLS)(run.ctx);
    expect(out).toMatchObject({ result: 'done: exit code 3', output: { stop: 'answer', steps: 3, usage: { tokensIn: 30, tokensOut: 15 }, citations: [] } });
    expect(await readFile(join(run.ctx.workspace, 'a.txt'), 'utf8')).toBe('hello\n');
    // System prompt = persona + workspace; then the goal; the tools offered natively.
    expect(run.calls[0]!.messages[0]).toMatchObject({ role: 'system', content: expect.stringMatching(/^You fix code\.\n\n.*workspace is /s) });
    expect(run.calls[0]!.messages[1]).toEqual({ role: 'user', content: 'write a.txt' });
    expect(run.calls[0]!.tools).toEqual(['shell', 'files']);
    expect(run.calls[2]!.messages.slice(-2)).toEqual([
      { role: 'assistant', content: '', toolCalls: [call('shell', { command: 'cat a.txt; echo oops >&2; exit 3' })] },
      { role: 'tool', toolCallId: 'c_shell', content: expect.stringContaining('--- stdout ---\nhello\n') },
    ]);
    expect(run.steps.map((s) => `${s.seq} ${s.kind}`)).toEqual(['0 thought', '1 tool_call', '2 tool_result', '3 tool_call', '4 tool_result', '5 answer']);
    for (const s of run.steps) expect(TaskStep.safeParse(s).success).toBe(true);
    const shellResult = run.steps[4]!.result!;
    expect(shellResult).toMatchObject({ ok: false, exitCode: 3, cwd: '.', stdout: 'hello\n', stderr: 'oops\n', stdoutSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('takes an answer on the first step (a model that calls no tool)', async () => {
    const run = await fakeContext([{ text: 'Once upon a time.' }], { goal: 'tell a story', history: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
    const out = await agentLoop(settings({ tools: [] }), TOOLS)(run.ctx);
    expect(out).toMatchObject({ result: 'Once upon a time.', output: { stop: 'answer', steps: 1 } });
    expect(run.calls[0]!.tools).toEqual([]);
    expect(run.calls[0]!.messages.slice(1)).toEqual([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'tell a story' }]);
  });

  it('refuses a tool the manifest does not enable and an unknown tool, back to the model, without running them', async () => {
    const run = await fakeContext([{ toolCalls: [call('shell', { command: 'touch ran' }), call('rm_rf', { path: '/' })] }, { text: 'ok' }], 'go');
    await agentLoop(settings({ tools: ['files'] }), TOOLS)(run.ctx);
    const results = run.steps.filter((s) => s.kind === 'tool_result');
    expect(results.map((s) => s.result?.error)).toEqual([expect.stringContaining('tool "shell" is not enabled for this agent'), expect.stringContaining('there is no tool "rm_rf"')]);
    expect(run.steps.find((s) => s.kind === 'tool_call' && s.callId === 'c_rm_rf')).toMatchObject({ text: 'unknown tool "rm_rf"' });
    expect(run.calls[1]!.messages.slice(-2).map((m) => (m as { content: string }).content)).toEqual([expect.stringMatching(/^error: tool "shell" is not enabled/), expect.stringMatching(/^error: there is no tool "rm_rf"/)]);
    await expect(readFile(join(run.ctx.workspace, 'ran'))).rejects.toThrow();
  });

  it('stops at maxSteps, and at a task-level maxSteps below it', async () => {
    const again = () => ({ toolCalls: [call('files', { op: 'list' })] });
    const run = await fakeContext([again, again, again, again], 'loop forever');
    const err = await failure(agentLoop(settings({ maxSteps: 3 }), TOOLS)(run.ctx));
    expect(err.message).toContain('stopped after 3 steps without an answer');
    expect(err.output).toMatchObject({ stop: 'max_steps', steps: 3 } satisfies Partial<AgentLoopOutput>);
    const lower = await fakeContext([again, again, again], { goal: 'x', maxSteps: 1 });
    expect((await failure(agentLoop(settings({ maxSteps: 3 }), TOOLS)(lower.ctx))).output).toMatchObject({ stop: 'max_steps', steps: 1 });
  });

  it('stops with token_budget when the gateway refuses the tier\'s tokens per hour', async () => {
    const budget = new LlmError({ code: 'quota_exceeded', message: 'agent coder on tiny would use 900 tokens this hour (limit 500)', details: { limit: 'tokens_per_hour', retryAfterMs: 3_000_000 } });
    const run = await fakeContext([{ toolCalls: [call('files', { op: 'list' })] }, budget], 'go');
    const err = await failure(agentLoop(settings(), TOOLS)(run.ctx));
    expect(err.message).toBe("the tier's token budget is used up: agent coder on tiny would use 900 tokens this hour (limit 500)");
    expect(err.output).toMatchObject({ stop: 'token_budget', steps: 1 });
  });

  it('stops when cancelled in the middle of a long shell call, and the process is gone', async () => {
    const run = await fakeContext([{ toolCalls: [call('shell', { command: 'echo $$ > pid; sleep 60' })] }], 'wait');
    const pending = agentLoop(settings(), TOOLS)(run.ctx);
    const pidFile = join(run.ctx.workspace, 'pid');
    let pid = NaN;
    while (Number.isNaN(pid)) {
      pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim() || NaN);
      await new Promise((r) => setTimeout(r, 20));
    }
    run.controller.abort('cancelled');
    const err = await failure(pending);
    expect(err.output).toMatchObject({ stop: 'cancelled' });
    expect(() => process.kill(pid, 0)).toThrow();
    expect(run.steps.at(-1)).toMatchObject({ kind: 'tool_result', result: { ok: false, error: 'interrupted (cancelled)' } });
  });

  it('rejects bad task input with a clear error', async () => {
    const run = await fakeContext([], { goal: '' });
    expect((await failure(agentLoop(settings(), TOOLS)(run.ctx))).message).toMatch(/^invalid agent task input .*goal: a goal/);
  });

  it('bounds what a step carries: long output is cut with its sha256 of the whole', async () => {
    const run = await fakeContext([{ toolCalls: [call('shell', { command: 'head -c 100000 /dev/zero | tr "\\0" x' })] }, { text: 'ok' }], 'print');
    await agentLoop(settings(), TOOLS)(run.ctx);
    const r = run.steps.find((s) => s.kind === 'tool_result')!.result!;
    expect(r.truncated).toBe(true);
    expect(r.stdout!.length).toBeLessThanOrEqual(16 * 1024);
    const { createHash } = await import('node:crypto');
    expect(r.stdoutSha256).toBe(createHash('sha256').update('x'.repeat(100_000)).digest('hex'));
  });
});

describe('agent loop with a model that cannot call tools', () => {
  it('asks again without tools when the gateway has no tool-capable route, and takes the answer', async () => {
    const noTools = new LlmError({ code: 'llm_capability_unsupported', message: 'model "default" cannot do tools (it offers chat, stream); no configured model can', details: { model: 'default', need: ['chat', 'tools'], missing: ['tools'], capable: [] } });
    const run = await fakeContext([noTools, { text: 'Once upon a time.' }], 'fix it');
    expect(await agentLoop(settings(), TOOLS)(run.ctx)).toMatchObject({ result: 'Once upon a time.', output: { stop: 'answer', steps: 1 } });
    expect(run.calls.map((c) => c.tools)).toEqual([['shell', 'files'], []]);
  });

  it('fails with the gateway\'s words when no model serves at all', async () => {
    const down = new LlmError({ code: 'llm_unavailable', message: 'no LLM provider', details: { model: 'default', need: ['chat'] } });
    const run = await fakeContext([down], 'fix it');
    const err = await failure(agentLoop(settings(), TOOLS)(run.ctx));
    expect(err.message).toBe('the model call failed: no LLM provider');
    expect(err.output).toMatchObject({ stop: 'error', steps: 0 });
  });
});
