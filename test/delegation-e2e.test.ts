import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskStep, TaskView } from '@aiflock/protocol';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { startScriptedModel, type ScriptedModel } from '../testkit/scripted-model.js';

/**
 * Delegation end to end in real sandboxes: boss's agent loop calls its `delegate` tool, the
 * worker's `llm` handler answers through the gateway (a scripted OpenAI-wire model, priced),
 * and the worker's model call is charged to boss, not to the worker. An agent the manifest
 * does not list is refused to the model, which still answers. The worker's manifest
 * `logLevel: warn` reaches its runtime, which drops its info lines.
 */
let flock: TestFlock;
let model: ScriptedModel;

async function deploy(name: string, body: string): Promise<void> {
  const file = join(flock.home, `${name}.agent.md`);
  await writeFile(file, `---\nname: ${name}\n${body}resources: { cpu: 0.5, memory: 192Mi, pids: 64, taskTimeout: 90s }\n---\nYou are ${name}.\n`);
  const r = await flock.cli(['agent', 'deploy', file]);
  expect(r.code, r.stderr).toBe(0);
  await eventually(async () => (await flock.api(`/v1/agents/${name}`)).body?.replicas?.ready === 1, `${name} ready`, 120_000);
}

const balance = async (agent: string) => (await flock.api(`/v1/economy/balance/${agent}`)).body.aiDollars as string;
const llmCharges = async (agent: string) => ((await flock.api(`/v1/economy/ledger/${agent}?limit=100`)).body.transactions as { reason: string }[]).filter((e) => e.reason === 'llm_usage').length;

beforeAll(async () => {
  model = await startScriptedModel('openai');
  flock = await testFlock();
  // Every call is 20 tokens in and 10 out (the scripted model's usage): 3 aiDollars a call.
  await writeFile(
    join(flock.home, 'config.yaml'),
    `llm:
  providers:
    scripted: { kind: openai, url: "${model.url}" }
  models:
    default: { provider: scripted, model: scripted, capabilities: [chat, tools, stream, json], contextWindow: 65536, pricePer1kIn: 100, pricePer1kOut: 100 }
  policy: { attemptsPerProvider: 1 }
economy:
  tiers:
    - { name: roomy, minBalance: 0, models: [default], requestsPerMinute: 1000, tokensPerHour: 10000000, concurrentCalls: 4, concurrentToolRuns: 4 }
`,
  );
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  await deploy('boss', 'handlers: [agent]\ndelegates: [worker]\n');
  // The worker logs warnings and worse only (the manifest's logLevel reaches its runtime).
  await deploy('worker', 'handlers: [llm]\nlogLevel: warn\n');
  for (const [agent, pay] of [['boss', 'PAY-B'], ['worker', 'PAY-W']]) {
    const c = await flock.cli(['economy', 'credit', agent!, '50', '--payment', pay!]);
    expect(c.code, c.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  await flock?.cleanup();
  await model?.close();
});

describe('delegation in sandboxes', () => {
  it("boss's loop delegates to worker; the child is linked to its parent; the worker's model call is charged to boss", async () => {
    model.script(
      { toolCalls: [{ name: 'delegate', arguments: { agent: 'worker', goal: 'Say hello to the team' } }] },
      (req) => ({ text: `worker here, you asked: ${req.messages.at(-1)?.content ?? ''}` }),
      (req) => ({ text: `Done. ${req.lastToolResult ?? 'no result'}` }),
    );
    const r = await flock.cli(['task', 'run', 'boss', '--type', 'agent', '--input', 'Greet the team through worker', '--wait', '--json'], { timeoutMs: 150_000 });
    const parent = JSON.parse(r.stdout) as TaskView;
    expect(parent.status, parent.error ?? '').toBe('completed');
    expect(parent.result).toContain('worker answered');
    expect(parent.result).toContain('worker here, you asked: Say hello to the team');

    const children = (await flock.api(`/v1/tasks?parent=${parent.id}`)).body.tasks as TaskView[];
    expect(children).toHaveLength(1);
    expect(children[0]).toMatchObject({ agent: 'worker', parentId: parent.id, status: 'completed' });
    const steps = (await flock.api(`/v1/jobs/${parent.id}/steps`)).body.steps as TaskStep[];
    expect(steps.find((s) => s.kind === 'tool_result' && s.tool === 'delegate')?.result).toMatchObject({ ok: true });
    const shown = await flock.cli(['task', 'get', parent.id]);
    expect(shown.stdout).toContain(`delegated: ${children[0]!.id}   to worker   completed`);
    expect((await flock.cli(['task', 'get', children[0]!.id])).stdout).toContain(`parent:   ${parent.id}`);

    // boss's runtime logs at info (its own "task started: ..." line; the daemon's says "task started on");
    // the worker's manifest says warn, so its runtime drops that line.
    const linesOf = async (id: string) => (await flock.api(`/v1/tasks/${id}/logs`)).body.lines as { level: string; msg: string }[];
    expect((await linesOf(parent.id)).some((l) => l.msg.startsWith('task started:'))).toBe(true);
    const workerLines = await linesOf(children[0]!.id);
    expect(workerLines.some((l) => l.msg.startsWith('task started:'))).toBe(false);
    expect(workerLines.map((l) => l.msg)).toContain(`delegated by agent boss (task ${parent.id})`);

    // Three model calls, all boss's: its two loop steps and the worker's answer.
    await eventually(async () => (await llmCharges('boss')) === 3, 'three charges to boss');
    expect(await llmCharges('worker')).toBe(0);
    expect(await balance('worker')).toBe('50.00');
    expect(await balance('boss')).toBe('41.00');
  });

  it('an agent the manifest does not list is refused to the model, which can still answer', async () => {
    model.script(
      { toolCalls: [{ name: 'delegate', arguments: { agent: 'stranger', goal: 'anything' } }] },
      (req) => ({ text: `could not: ${req.lastToolResult ?? ''}` }),
    );
    const r = await flock.cli(['task', 'run', 'boss', '--type', 'agent', '--input', 'Ask stranger', '--wait', '--json'], { timeoutMs: 150_000 });
    const t = JSON.parse(r.stdout) as TaskView;
    expect(t.status).toBe('completed');
    expect(t.result).toContain('delegation_not_permitted');
    expect((await flock.api(`/v1/tasks?parent=${t.id}`)).body.tasks).toEqual([]);
  });
});
