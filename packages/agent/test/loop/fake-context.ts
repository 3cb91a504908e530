import type { AgentEvent, LlmChatResult, LlmStreamChunk, Task, TaskStep } from '@aiflock/protocol';
import type { LlmClient, LlmStream, TaskContext } from '../../src/index.js';
import { testTempDir } from '../../../../testkit/temp-dir.js';

/** One scripted model reply of the in-memory LlmClient, or a function of the messages so far. */
export type FakeTurn = Partial<Pick<LlmChatResult, 'text' | 'toolCalls' | 'usage'>> | Error;

export interface FakeRun {
  ctx: TaskContext;
  steps: TaskStep[];
  /** Messages of each model call. */
  calls: Array<{ messages: unknown[]; tools: string[] }>;
  controller: AbortController;
}

/** A task context whose model is an in-memory script (unit level: no bus, no gateway). */
export async function fakeContext(turns: Array<FakeTurn | ((messages: Array<{ role: string; content: string }>) => FakeTurn)>, input: unknown): Promise<FakeRun> {
  const workspace = testTempDir('loop-ws-');
  const steps: TaskStep[] = [];
  const calls: FakeRun['calls'] = [];
  const controller = new AbortController();
  const llm = {
    stream(req: { messages: Array<{ role: string; content: string }>; params?: { tools?: Array<{ name: string }> } }): LlmStream {
      calls.push({ messages: structuredClone(req.messages), tools: (req.params?.tools ?? []).map((t) => t.name) });
      const next = turns.shift();
      const turn = typeof next === 'function' ? next(req.messages) : next;
      const result: Promise<LlmChatResult> =
        turn instanceof Error || turn === undefined
          ? Promise.reject(turn ?? new Error('script exhausted'))
          : Promise.resolve({ text: turn.text ?? '', toolCalls: turn.toolCalls ?? [], model: 'default', provider: 'fake', finishReason: 'stop', usage: turn.usage ?? { tokensIn: 10, tokensOut: 5 }, costAiDollars: 0, correlationId: 'c' });
      result.catch(() => undefined);
      async function* chunks(): AsyncGenerator<LlmStreamChunk> {
        await result;
      }
      return { [Symbol.asyncIterator]: () => chunks(), result };
    },
  } as unknown as LlmClient;
  const noop = () => undefined;
  const task = { id: 't_0123456789abcdefghij', agent: 'coder', type: 'agent', data: input, attempt: 1, maxAttempts: 1 } as unknown as Task;
  const ctx = {
    task,
    input,
    signal: controller.signal,
    log: { debug: noop, info: noop, warn: noop, error: noop },
    workspace,
    instanceId: 'coder-1',
    agent: 'coder',
    llm,
    publish: (e: AgentEvent) => void (e.type === 'task.step' && steps.push(e)),
  } as unknown as TaskContext;
  return { ctx, steps, calls, controller };
}
