import Dockerode from 'dockerode';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamMessage, TaskStep, TaskView } from '@aiflock/protocol';
import { execIn } from '../testkit/docker.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { remoteHost, type RemoteHost } from '../testkit/netns.js';
import { ensureWorkbench } from '../testkit/workbench.js';
import { startScriptedModel, type ScriptedModel } from '../testkit/scripted-model.js';

/**
 * The agent loop end to end: a real daemon, nats-server and Docker sandboxes; the model is a
 * scripted server speaking OpenAI's wire (SSE, tool calls) through the daemon's gateway. The
 * sample coding task, the refusals (tool not enabled, paths out of the workspace, step limit,
 * the tier's token budget, a cancel mid-command) and the http tool through the egress proxy.
 */
const docker = new Dockerode();
let flock: TestFlock;
let model: ScriptedModel;
let web: RemoteHost;
let webUrl: string;

const CALC = 'exports.add = (a, b) => a - b;\n';
const CALC_TEST = "const test = require('node:test');\nconst assert = require('node:assert');\nconst { add } = require('./calc.js');\ntest('adds', () => assert.strictEqual(add(2, 3), 5));\n";

async function deploy(name: string, body: string, resources = 'resources: { cpu: 0.5, memory: 192Mi, pids: 64, taskTimeout: 90s }'): Promise<void> {
  const file = join(flock.home, `${name}.agent.md`);
  await writeFile(file, `---\nname: ${name}\n${body}${resources}\n---\nYou are ${name}, a careful engineer.\n`);
  const r = await flock.cli(['agent', 'deploy', file]);
  expect(r.code, r.stderr).toBe(0);
  await eventually(async () => (await flock.api(`/v1/agents/${name}`)).body?.replicas?.ready === 1, `${name} ready`, 120_000);
}

async function runTask(agent: string, input: unknown, type = 'agent'): Promise<TaskView> {
  const r = await flock.cli(['task', 'run', agent, '--type', type, '--input', typeof input === 'string' ? input : JSON.stringify(input), '--wait', '--json'], { timeoutMs: 150_000 });
  return JSON.parse(r.stdout) as TaskView;
}

/** The remote host's site: plain text naming the path, and a cookie the tool must not pass on. */
const WEB_SERVER = `
const html = (title, body) => '<!doctype html><html><head><title>' + title + '</title></head><body><main>' + body + '</main></body></html>';
require('http').createServer((req, res) => {
  if (req.url === '/page') return res.writeHead(200, { 'content-type': 'text/html' }).end(html('Kettles', '<h1>Kettles</h1><p>Descale monthly.</p><a href="/next">Next</a>'));
  if (req.url === '/next') return res.writeHead(200, { 'content-type': 'text/html' }).end(html('Kettles, part 2', '<h1>Part 2</h1><p>Use citric acid, not vinegar.</p>'));
  res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'hidden=1' }).end('hello from out there, you asked for ' + req.url);
}).listen(8080, '0.0.0.0', () => console.log('ready'));`;

/** A workbench sandbox's size: Chromium's threads count against pids, its pages against memory. */
const WORKBENCH_RESOURCES = 'resources: { memory: 1Gi, cpu: 1, pids: 512, tmp: 256Mi, taskTimeout: 5m }';

const stepsOf = async (id: string): Promise<TaskStep[]> => (await flock.api(`/v1/jobs/${id}/steps`)).body.steps as TaskStep[];
const results = (steps: TaskStep[]) => steps.filter((s) => s.kind === 'tool_result');

beforeAll(async () => {
  model = await startScriptedModel('openai');
  // The web server's test range is private: only an admin may allow it, where the flock says so.
  flock = await testFlock({ env: { AIFLOCK_EGRESS_PRIVATE_CIDRS: 'admin', AIFLOCK_WORKBENCH_IMAGE: ensureWorkbench() } });
  // The scripted model behind every alias, tool-capable; two tiers: a tiny token budget for
  // agents at balance 0, and a roomy one for the agents the test credits.
  await writeFile(
    join(flock.home, 'config.yaml'),
    `llm:
  providers:
    scripted: { kind: openai, url: "${model.url}" }
  models:
    default: { provider: scripted, model: scripted, capabilities: [chat, tools, stream, json], contextWindow: 65536 }
  policy: { attemptsPerProvider: 1 }
economy:
  tiers:
    - { name: tiny, minBalance: 0, models: [default], requestsPerMinute: 1000, tokensPerHour: 1500, concurrentCalls: 4, concurrentToolRuns: 4 }
    - { name: roomy, minBalance: 100, models: [default], requestsPerMinute: 1000, tokensPerHour: 10000000, concurrentCalls: 4, concurrentToolRuns: 4 }
`,
  );
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  // A web server on a host out there (a network namespace of this test's own): reachable only
  // through the egress proxy, which refuses the host's own and the bridge's addresses.
  web = await remoteHost();
  await web.run(WEB_SERVER);
  const gateway = web.address;
  webUrl = `http://${gateway}:8080`;

  // The sample coding task runs in the workbench (Debian with git, compilers, node, Chromium).
  await deploy('coder', 'image: workbench\nhandlers: [agent, shell]\ntools: { shell: true, files: true }\nloop: { maxSteps: 8 }\n', WORKBENCH_RESOURCES);
  await deploy('surfer', `image: workbench\nhandlers: [agent]\ntools: { browser: true }\nnetwork: { egress: ["${gateway}/32"] }\n`, WORKBENCH_RESOURCES);
  await deploy('webby', `handlers: [agent]\ntools: { http: { allow: ["${gateway}/32"] } }\n`);
  await deploy('broke', 'handlers: [agent]\ntools: { files: true }\n');
  await deploy('helper', 'handlers: [agent]\ntools: { askHuman: true }\naccess: { runTasks: ["*"] }\n');
  for (const [agent, pay] of [['coder', 'PAY-1'], ['webby', 'PAY-2'], ['helper', 'PAY-3'], ['surfer', 'PAY-4']]) {
    const c = await flock.cli(['economy', 'credit', agent!, '5', '--payment', pay!]);
    expect(c.code, c.stderr).toBe(0);
  }
});

afterAll(async () => {
  await web?.close();
  await flock?.cleanup();
  await model?.close();
});

describe('agent loop: the sample coding task', () => {
  it('reads, edits, runs the test with shell, sees it pass and answers; steps stored, streamed and audited', async () => {
    // The project, placed in the workspace by a shell task.
    const setup = await runTask('coder', { command: 'mkdir -p calc && printf %s "$A" > calc/calc.js && printf %s "$B" > calc/calc.test.js && node --test calc/ >/dev/null 2>&1; echo $?', env: { A: CALC, B: CALC_TEST } }, 'shell');
    expect(setup.status).toBe('completed');
    expect((setup.output as { stdout: string }).stdout.trim()).toBe('1');

    model.script(
      { text: 'I will read the code first.', toolCalls: [{ name: 'files', arguments: { op: 'read', path: 'calc/calc.js' } }] },
      { toolCalls: [{ name: 'files', arguments: { op: 'edit', path: 'calc/calc.js', search: 'a - b', replace: 'a + b' } }] },
      { toolCalls: [{ name: 'shell', arguments: { command: 'node --test calc.test.js', cwd: 'calc' } }] },
      (req) => ({ text: req.lastToolResult?.startsWith('exit code 0') ? 'Fixed: add subtracted; the test passes now.' : `still failing: ${req.lastToolResult}` }),
    );
    const created = await flock.api('/v1/jobs', { method: 'POST', body: { agent: 'coder', type: 'agent', input: 'make the failing test in ./calc pass' } });
    expect(created.status).toBe(202);
    const id = created.body.jobId as string;
    const streamed = collectStream(id);

    const done = await eventually(async () => {
      const t = (await flock.api(`/v1/jobs/${id}`)).body as TaskView;
      return ['completed', 'failed', 'cancelled', 'timed_out'].includes(t.status) ? t : null;
    }, 'the coding task to finish', 120_000);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(done.result).toBe('Fixed: add subtracted; the test passes now.');
    expect(done.output).toMatchObject({ stop: 'answer', steps: 4, citations: [] });

    // The file on disk (the workspace is bind-mounted from the data dir).
    expect(await readFile(join(flock.home, 'shared', 'agents', 'coder', 'calc', 'calc.js'), 'utf8')).toBe('exports.add = (a, b) => a + b;\n');
    // The model saw the file, then the passing test, through the gateway with native tools.
    expect(model.requests[0]!.tools.sort()).toEqual(['files', 'shell']);
    expect(model.requests[0]!.messages[0]!.content).toContain('You are coder, a careful engineer.');
    expect(model.requests[1]!.lastToolResult).toBe(CALC);
    expect(model.requests[3]!.lastToolResult).toMatch(/^exit code 0\n--- stdout ---\n.*# pass 1/s);

    const steps = await stepsOf(id);
    expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i));
    expect(steps.map((s) => `${s.kind}${s.tool ? ` ${s.tool}` : ''}`)).toEqual(['thought', 'tool_call files', 'tool_result files', 'tool_call files', 'tool_result files', 'tool_call shell', 'tool_result shell', 'answer']);
    expect(steps[6]!.result).toMatchObject({ ok: true, exitCode: 0, cwd: 'calc', stdoutSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });

    // The same steps arrived over WS /v1/stream/{id}, as messages of type "step", in order.
    const messages = await streamed;
    expect(messages.filter((m) => m.type === 'step').map((m) => (m.payload as TaskStep).seq)).toEqual(steps.map((s) => s.seq));
    const lastStep = messages.findLastIndex((m) => m.type === 'step');
    expect(messages.slice(lastStep).map((m) => m.type)).toContain('result');

    // One audit entry per tool call.
    const audit = await eventually(async () => {
      const entries = (await flock.api('/v1/audit?action=tool.call&limit=100')).body.entries as Array<{ resource: string; outcome: string; actor: string; details: Record<string, unknown> }>;
      const mine = entries.filter((e) => e.resource === `task/${id}`);
      return mine.length === 3 ? mine.reverse() : null;
    }, 'three tool.call audit entries');
    expect(audit.map((e) => e.details['tool'])).toEqual(['files', 'files', 'shell']);
    expect(audit[2]).toMatchObject({ outcome: 'ok', actor: expect.stringMatching(/^instance:coder-/), details: { agent: 'coder', task: id, args: { command: 'node --test calc.test.js', cwd: 'calc' }, cwd: 'calc', exitCode: 0, stdoutSha256: steps[6]!.result!.stdoutSha256, urls: [] } });

    // And the CLI prints the steps between the log lines.
    const logs = await flock.cli(['task', 'logs', id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/STEP  #6 result of shell: ok, exit 0, \d+ ms, in calc/);
    expect(logs.stdout).toMatch(/STEP  #7 answer: Fixed: add subtracted/);
    const json = (await flock.cli(['task', 'logs', id, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type?: string });
    expect(json.filter((l) => l.type === 'task.step')).toHaveLength(8);
  });
});

describe('agent loop: refusals', () => {
  it('refuses a tool the manifest does not enable and paths out of the workspace (.., absolute, symlink), back to the model', async () => {
    model.script(
      { toolCalls: [{ name: 'http', arguments: { url: webUrl } }, { name: 'files', arguments: { op: 'read', path: '../../../etc/passwd' } }, { name: 'files', arguments: { op: 'read', path: '/etc/passwd' } }] },
      { toolCalls: [{ name: 'shell', arguments: { command: 'ln -sfn /etc etc-link && ln -sfn /etc/hostname host-link' } }] },
      { toolCalls: [{ name: 'files', arguments: { op: 'read', path: 'etc-link/passwd' } }, { name: 'files', arguments: { op: 'write', path: 'host-link', content: 'pwned' } }] },
      { text: 'I could not reach those.' },
    );
    const t = await runTask('coder', 'look around');
    expect(t.status, t.error ?? '').toBe('completed');
    const errors = results(await stepsOf(t.id)).map((s) => s.result?.error ?? 'ok');
    expect(errors).toEqual([
      expect.stringContaining('tool "http" is not enabled for this agent'),
      expect.stringMatching(/path "..\/..\/..\/etc\/passwd" climbs out of the workspace/),
      expect.stringMatching(/path "\/etc\/passwd" is an absolute path outside the workspace/),
      'ok',
      expect.stringMatching(/path "etc-link\/passwd" goes through a symlink to \/etc\/passwd, outside the workspace/),
      expect.stringMatching(/path "host-link" goes through a symlink to \/etc\/hostname, outside the workspace/),
    ]);
    const audit = (await flock.api('/v1/audit?action=tool.call&limit=100')).body.entries as Array<{ resource: string; outcome: string }>;
    expect(audit.filter((e) => e.resource === `task/${t.id}`).map((e) => e.outcome).sort()).toEqual(['error', 'error', 'error', 'error', 'error', 'ok']);
  });

  it('stops at the step limit', async () => {
    const list = { toolCalls: [{ name: 'files', arguments: { op: 'list' } }] };
    model.script(list, list, list);
    const t = await runTask('coder', { goal: 'keep looking', maxSteps: 2 });
    expect(t.status).toBe('failed');
    expect(t.error).toContain('stopped after 2 steps without an answer');
    expect(t.output).toMatchObject({ stop: 'max_steps', steps: 2 });
    model.script();
  });

  it("stops when the tier's token budget is used up", async () => {
    // The first call reports 1,200 tokens used; the tiny tier's 1,500 an hour cannot hold another.
    model.script({ toolCalls: [{ name: 'files', arguments: { op: 'list' } }], usage: { in: 1190, out: 10 } }, { text: 'never asked' });
    const t = await runTask('broke', 'spend');
    expect(t.status).toBe('failed');
    expect(t.error).toMatch(/^the tier's token budget is used up: .*broke.*tokens this hour \(limit 1500\)/);
    expect(t.output).toMatchObject({ stop: 'token_budget', steps: 1 });
    expect(model.remaining).toBe(1);
    model.script();
  });

  it('cancels in the middle of a long shell call, and the process is gone', async () => {
    const marker = `marker${Date.now()}`;
    model.script({ toolCalls: [{ name: 'shell', arguments: { command: `sleep 300 # ${marker}` } }] });
    const created = await flock.api('/v1/jobs', { method: 'POST', body: { agent: 'coder', type: 'agent', input: 'wait a long time' } });
    const id = created.body.jobId as string;
    const container = docker.getContainer((await docker.listContainers({ filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.agent=coder'] } }))[0]!.Id);
    // Processes whose command line has the marker, one line each; "[m]arker" keeps this probe from counting itself.
    const running = async () => (await execIn(container, ['sh', '-c', `for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | grep -c "[m]${marker.slice(1)}" || true`])).stdout.trim();
    await eventually(async () => (await stepsOf(id)).some((s) => s.kind === 'tool_call') && Number(await running()) > 0, 'the long command running');
    expect((await flock.api(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    // The control plane marks it cancelled at once; the sandbox kills the command's group and
    // reports the interrupted call as the loop's last step.
    await eventually(async () => ((await flock.api(`/v1/jobs/${id}`)).body as TaskView).status === 'cancelled', 'the task cancelled');
    const last = await eventually(async () => results(await stepsOf(id))[0], 'the interrupted tool result');
    expect(last.result).toMatchObject({ ok: false, error: 'interrupted (cancelled)' });
    expect(await running()).toBe('0');
  });
});

describe('agent loop: the http tool', () => {
  it('reaches an allowed host through the egress proxy with provenance, and is refused one not allowed', async () => {
    model.script(
      { toolCalls: [{ name: 'http', arguments: { url: `${webUrl}/docs` } }] },
      { toolCalls: [{ name: 'http', arguments: { url: 'http://not-allowed.invalid/' } }] },
      (req) => ({ text: `summary: ${req.messages.find((m) => m.role === 'tool')?.content.split('\n')[0]}` }),
    );
    const t = await runTask('webby', 'read the docs');
    expect(t.status, t.error ?? '').toBe('completed');
    expect(t.result).toBe('summary: HTTP 200');
    expect(t.output).toMatchObject({ stop: 'answer', citations: [`${webUrl}/docs`] });
    expect(model.requests.at(-2)!.lastToolResult).toMatch(new RegExp(`^HTTP 200\\ncontent-type: text/plain\\n.*provenance: ${webUrl}/docs status 200 sha256 [0-9a-f]{64}\\n\\nhello from out there, you asked for /docs$`, 's'));
    expect(model.requests.at(-2)!.lastToolResult).not.toContain('hidden=1');
    const rs = results(await stepsOf(t.id));
    expect(rs[0]!.result).toMatchObject({ ok: true, exitCode: 200, urls: [`${webUrl}/docs`] });
    expect(rs[1]!.result).toMatchObject({ ok: false, error: expect.stringContaining("the egress proxy refused not-allowed.invalid: not on the manifest's allow list") });
    const steps = await stepsOf(t.id);
    expect(steps.at(-1)).toMatchObject({ kind: 'answer', citations: [`${webUrl}/docs`] });
  });
});

describe('agent loop: the browser tool in a workbench sandbox', () => {
  it('opens a page, follows a link and answers citing both URLs', async () => {
    model.script(
      { toolCalls: [{ name: 'browser', arguments: { action: 'open', url: `${webUrl}/page` } }] },
      { toolCalls: [{ name: 'browser', arguments: { action: 'follow', link: 'Next' } }] },
      (req) => ({ text: req.lastToolResult?.includes('citric acid') ? 'Descale monthly with citric acid.' : `not found: ${req.lastToolResult}` }),
    );
    const t = await runTask('surfer', 'how do I descale a kettle?');
    expect(t.status, t.error ?? '').toBe('completed');
    expect(t.result).toBe('Descale monthly with citric acid.');
    expect(t.output).toMatchObject({ stop: 'answer', citations: [`${webUrl}/page`, `${webUrl}/next`] });
    const steps = await stepsOf(t.id);
    expect(steps.at(-1)).toMatchObject({ kind: 'answer', citations: [`${webUrl}/page`, `${webUrl}/next`] });
    expect(results(steps).map((st) => st.result?.urls)).toEqual([[`${webUrl}/page`], [`${webUrl}/next`]]);
  });
});

describe('agent loop: talking with people, in a real sandbox', () => {
  let dana: string;
  beforeAll(async () => {
    dana = (await flock.cliJson<{ token: string }>(['token', 'create', '--name', 'dana', '--scope', 'human'])).token;
  });

  it('a person chats with it: the message runs its loop in the sandbox and the answer lands in her thread', async () => {
    model.script((req) => ({ text: `Hello! ${req.messages.at(-1)!.content} is 4.` }));
    const sent = await flock.api('/v1/agents/helper/messages', { method: 'POST', token: dana, body: { text: '2+2' } });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const thread = await eventually(async () => {
      const t = (await flock.api('/v1/agents/helper/messages', { token: dana })).body as { person: string; messages: { role: string; text: string }[] };
      return t.messages.length === 2 ? t : null;
    }, 'the answer in the thread', 120_000);
    expect(thread.person).toBe('dana');
    expect(thread.messages.map((m) => [m.role, m.text])).toEqual([
      ['person', '2+2'],
      ['agent', 'Hello! 2+2 is 4.'],
    ]);
  });

  it('ask_human: the task waits for a person, is answered through the API, and finishes with the answer in its transcript', async () => {
    model.script(
      { toolCalls: [{ name: 'ask_human', arguments: { question: 'Which file should I tidy?' } }] },
      (req) => ({ text: `Tidied ${req.lastToolResult}.` }),
    );
    const created = await flock.api('/v1/jobs', { method: 'POST', body: { agent: 'helper', type: 'agent', input: 'tidy the notes' } });
    expect(created.status).toBe(202);
    const id = created.body.jobId as string;
    await eventually(async () => ((await flock.api(`/v1/jobs/${id}`)).body as TaskView).status === 'waiting_for_human', 'the task to wait for a person', 120_000);
    const answered = await flock.api(`/v1/jobs/${id}/answer`, { method: 'POST', body: { text: 'notes.md' } });
    expect(answered.status, JSON.stringify(answered.body)).toBe(200);
    const done = await eventually(async () => {
      const t = (await flock.api(`/v1/jobs/${id}`)).body as TaskView;
      return ['completed', 'failed', 'cancelled', 'timed_out'].includes(t.status) ? t : null;
    }, 'the task to finish', 120_000);
    expect(done.status, done.error ?? '').toBe('completed');
    expect(done.result).toContain('notes.md');
    const steps = await stepsOf(id);
    expect(steps.filter((st) => st.kind === 'question' || st.kind === 'human_answer').map((st) => [st.kind, st.text])).toEqual([
      ['question', 'Which file should I tidy?'],
      ['human_answer', 'notes.md'],
    ]);
  });
});

/** Every message of the job's stream until the server closes it (the job finished). */
function collectStream(id: string): Promise<StreamMessage[]> {
  return flock.adminToken().then(
    (token) =>
      new Promise((resolve, reject) => {
        const got: StreamMessage[] = [];
        const ws = new WebSocket(`${flock.apiUrl.replace('http', 'ws')}/v1/stream/${id}`, { headers: { authorization: `Bearer ${token}` } });
        ws.on('message', (d) => got.push(JSON.parse(String(d)) as StreamMessage));
        ws.on('close', () => resolve(got));
        ws.on('error', reject);
      }),
  );
}
