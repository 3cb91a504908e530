/**
 * Agent loop overhead: an `agent` task whose scripted model (testkit/scripted-model.ts, the
 * OpenAI wire, answering at once) asks for N `shell` tool calls of `true` and then answers,
 * against the same N commands run directly in the same sandbox by one `shell` task, in the
 * same run. What the loop adds per tool call is a model call through the gateway (over the
 * bus, SSE to the provider), the tool plumbing and two `task.step` events stored, streamed
 * and audited by the daemon.
 *
 *   npx tsx bench/agent-loop.ts [--runs 5] [--json] [--calls 20] [--tasks 5]
 */
import type { TaskView } from '@aiflock/protocol';
import { startScriptedModel, type ScriptTurn } from '../testkit/scripted-model.js';
import { benchArgs, fmt, fmtSpread, main, median, onCleanup, progress, spread, startFlock, table, until, writeResults, type BenchFlock } from './lib.js';

const opts = benchArgs({ calls: 20, tasks: 5 });
const CALLS = opts.extra['calls']!;
const TASKS = opts.extra['tasks']!;
const AGENT = 'bench-coder';

async function timed(f: BenchFlock, type: string, input: unknown): Promise<{ ms: number; task: TaskView }> {
  const t = performance.now();
  const { id } = await f.api<{ id: string }>('POST', '/v1/tasks', { agent: AGENT, type, input });
  let task = await f.api<TaskView>('GET', `/v1/tasks/${id}/wait?timeoutMs=60000`);
  while (!['completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'].includes(task.status)) task = await f.api<TaskView>('GET', `/v1/tasks/${id}/wait?timeoutMs=60000`);
  if (task.status !== 'completed') throw new Error(`${type} task ${id} ${task.status}: ${task.error}`);
  return { ms: performance.now() - t, task };
}

main('agent-loop', async () => {
  const model = await startScriptedModel('openai');
  onCleanup('stop the scripted model', () => model.close());
  const f = await startFlock({
    configYaml: `llm:
  providers:
    scripted: { kind: openai, url: "${model.url}" }
  models:
    default: { provider: scripted, model: scripted, capabilities: [chat, tools, stream, json], contextWindow: 1000000 }
economy:
  tiers:
    - { name: open, minBalance: 0, models: [default], requestsPerMinute: 100000, tokensPerHour: 1000000000, concurrentCalls: 16, concurrentToolRuns: 16 }
`,
  });
  const manifest = `name: ${AGENT}\nhandlers: [agent, shell]\ntools: { shell: true }\nloop: { maxSteps: ${CALLS + 1} }\nresources: { cpu: 1, memory: 256Mi, pids: 128, taskTimeout: 120s }\n`;
  await f.api('POST', '/v1/agents', { manifest, filename: `${AGENT}.agent.yaml` });
  await until(`${AGENT} ready`, async () => (await f.api<{ replicas: { ready: number } }>('GET', `/v1/agents/${AGENT}`)).replicas.ready === 1, 120_000);

  const loopTurns = (): ScriptTurn[] => [...Array.from({ length: CALLS }, () => ({ toolCalls: [{ name: 'shell', arguments: { command: 'true' } }] })), { text: 'done' }];
  const direct = `i=0; while [ $i -lt ${CALLS} ]; do sh -c true; i=$((i+1)); done`;
  // Warm up both paths (the first model call opens connections, the first task warms the JIT).
  model.script(...loopTurns());
  await timed(f, 'agent', 'warm up');
  await timed(f, 'shell', direct);

  const runs: Array<{ loopMs: number; directMs: number; stepsPerSecond: number; overheadMsPerCall: number }> = [];
  for (let r = 0; r < opts.runs; r++) {
    const loop: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < TASKS; i++) {
      model.script(...loopTurns());
      // Alternate which goes first, so neither always runs on a warmer machine.
      const pair = i % 2 === 0 ? [await timed(f, 'agent', 'bench'), await timed(f, 'shell', direct)] : [await timed(f, 'shell', direct), await timed(f, 'agent', 'bench')].reverse();
      loop.push(pair[0]!.ms);
      raw.push(pair[1]!.ms);
    }
    const loopMs = median(loop);
    const directMs = median(raw);
    runs.push({ loopMs, directMs, stepsPerSecond: CALLS / (loopMs / 1000), overheadMsPerCall: (loopMs - directMs) / CALLS });
    progress(`run ${r + 1}/${opts.runs}: loop ${fmt(loopMs)} ms, direct ${fmt(directMs)} ms for ${CALLS} calls`);
  }
  const s = {
    loopMs: spread(runs.map((x) => x.loopMs)),
    directMs: spread(runs.map((x) => x.directMs)),
    stepsPerSecond: spread(runs.map((x) => x.stepsPerSecond)),
    overheadMsPerCall: spread(runs.map((x) => x.overheadMsPerCall)),
    ratio: spread(runs.map((x) => x.loopMs / x.directMs)),
  };
  const file = await writeResults('agent-loop', { calls: CALLS, tasks: TASKS, runs, summary: s });
  if (opts.json) return void process.stdout.write(`${JSON.stringify({ calls: CALLS, runs, summary: s })}\n`);
  process.stdout.write(
    `\n${table(
      ['measure', `median (min–max) of ${opts.runs} runs`],
      [
        [`agent task, ${CALLS} shell calls + answer (ms)`, fmtSpread(s.loopMs)],
        [`shell task running the same ${CALLS} commands (ms)`, fmtSpread(s.directMs)],
        ['tool calls (steps) per second through the loop', fmtSpread(s.stepsPerSecond)],
        ['loop overhead per tool call (ms)', fmtSpread(s.overheadMsPerCall)],
        ['ratio loop / direct', fmtSpread(s.ratio)],
      ],
    )}\nresults: ${file}\n`,
  );
});
