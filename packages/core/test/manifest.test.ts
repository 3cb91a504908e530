import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError, manifestJsonSchema, parseManifest } from '../src/index.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples');

/** Each bad manifest, and the field and expectation its error must name. */
const BAD: { name: string; text: string; file?: string; field: string; expected: RegExp; value?: unknown }[] = [
  { name: 'missing name', text: 'version: 1.0.0\n', field: 'name', expected: /required/ },
  { name: 'upper-case name', text: 'name: Echo\n', field: 'name', expected: /lower-case name/, value: 'Echo' },
  { name: 'name with a dot (would be a NATS token)', text: 'name: a.b\n', field: 'name', expected: /lower-case name/ },
  { name: 'name with a wildcard', text: 'name: "a*"\n', field: 'name', expected: /lower-case name/ },
  { name: 'unknown top-level key', text: 'name: echo\nreplica: 2\n', field: 'replica', expected: /no such field/, value: 2 },
  { name: 'unknown nested key', text: 'name: echo\nresources: {memroy: 1Gi}\n', field: 'resources.memroy', expected: /no such field/ },
  { name: 'memory not a size', text: 'name: echo\nresources: {memory: lots}\n', field: 'resources.memory', expected: /size like "256Mi"/, value: 'lots' },
  { name: 'memory too small', text: 'name: echo\nresources: {memory: 1Mi}\n', field: 'resources.memory', expected: /between/ },
  { name: 'cpu not a number', text: 'name: echo\nresources: {cpu: fast}\n', field: 'resources.cpu', expected: /number/, value: 'fast' },
  { name: 'cpu too small', text: 'name: echo\nresources: {cpu: 0}\n', field: 'resources.cpu', expected: /at least 0.05/ },
  { name: 'pids fractional', text: 'name: echo\nresources: {pids: 1.5}\n', field: 'resources.pids', expected: /int/ },
  { name: 'bad task timeout', text: 'name: echo\nresources: {taskTimeout: soon}\n', field: 'resources.taskTimeout', expected: /duration like "30s"/ },
  { name: 'negative replicas', text: 'name: echo\nreplicas: -1\n', field: 'replicas', expected: /zero or more/, value: -1 },
  { name: 'too many replicas', text: 'name: echo\nreplicas: 1000\n', field: 'replicas', expected: /at most 100/ },
  { name: 'unknown profile', text: 'name: echo\nprofile: root\n', field: 'profile', expected: /"restricted", "operator"/, value: 'root' },
  { name: 'empty handlers', text: 'name: echo\nhandlers: []\n', field: 'handlers', expected: /at least one task type/ },
  { name: 'bad handler name', text: 'name: echo\nhandlers: ["Run It"]\n', field: 'handlers.0', expected: /task type/ },
  { name: 'shell handler without the shell tool', text: 'name: echo\nhandlers: [shell]\n', field: 'tools.shell', expected: /tools.shell: true/ },
  { name: 'browser handler without the browser tool', text: 'name: echo\nhandlers: [browser]\n', field: 'tools.browser', expected: /tools.browser: true/ },
  { name: 'bad version', text: 'name: echo\nversion: latest\n', field: 'version', expected: /semantic version/ },
  { name: 'reserved env name', text: 'name: echo\nenv: {AIFLOCK_AGENT: x}\n', field: 'env', expected: /set by the runtime/ },
  { name: "an env name the documents' runtime sets", text: 'name: echo\nenv: {NATS_URL: nats://elsewhere:4222}\n', field: 'env', expected: /NATS_URL.*set by the runtime/ },
  { name: 'lower-case env name', text: 'name: echo\nenv: {path: x}\n', field: 'env.path', expected: /upper-case/ },
  { name: 'bad egress rule', text: 'name: echo\nnetwork: {egress: ["http://x"]}\n', field: 'network.egress.0', expected: /domain/ },
  { name: 'scaling min above max', text: 'name: echo\nscaling: {min: 3, max: 1}\n', field: 'scaling.min', expected: /must not exceed/ },
  { name: 'heartbeat too fast', text: 'name: echo\nheartbeat: {interval: 1ms}\n', field: 'heartbeat.interval', expected: /heartbeat interval/ },
  { name: 'wrong apiVersion', text: 'apiVersion: v2\nname: echo\n', field: 'apiVersion', expected: /"aiflock\/v1"/ },
  { name: 'not a mapping', text: '- a\n- b\n', field: '', expected: /mapping of manifest fields/ },
  { name: 'invalid YAML', text: 'name: [echo\n', field: '', expected: /valid YAML/ },
  { name: 'duplicate key', text: 'name: a\nname: b\n', field: '', expected: /valid YAML/ },
  { name: 'lifecycle: job with concurrency above 1', text: 'name: a\nlifecycle: job\nconcurrency: 2\n', field: 'concurrency', expected: /lifecycle: job runs one task per sandbox/ },
  { name: 'lifecycle: job with scaling', text: 'name: a\nlifecycle: job\nscaling: { min: 0, max: 3 }\n', field: 'scaling', expected: /leave scaling out/ },
  { name: 'an unknown lifecycle', text: 'name: a\nlifecycle: forever\n', field: 'lifecycle', expected: /service|job/ },
  { name: 'markdown without front matter', text: '# Just a prompt\n', file: 'agent.md', field: '', expected: /front matter/ },
];

describe('manifest validation', () => {
  it.each(BAD)('rejects $name, naming the field and what was expected', ({ text, file, field, expected, value }) => {
    let error: unknown;
    try {
      parseManifest(text, file ?? 'agent.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ManifestError);
    const issue = (error as ManifestError).issues.find((i) => i.field === field);
    expect(issue, `issues were ${JSON.stringify((error as ManifestError).issues)}`).toBeDefined();
    expect(issue!.expected).toMatch(expected);
    if (value !== undefined) expect(issue!.value).toEqual(value);
    expect((error as ManifestError).message).toContain(field === '' ? 'the manifest' : `"${field}"`);
  });

  it('applies the secure defaults of the design', () => {
    const { manifest } = parseManifest('name: minimal\n');
    expect(manifest).toMatchObject({
      profile: 'restricted',
      handlers: ['echo'],
      replicas: 1,
      resources: { cpu: 0.5, memory: 256 * 1024 ** 2, pids: 64 },
      heartbeat: { interval: 30_000 },
      network: { egress: [] },
      tools: { shell: false, files: false, browser: false, askHuman: null },
      loop: { maxSteps: 30 },
    });
  });

  it('reads agent.md: front matter is the manifest, the body is the persona', () => {
    const { manifest } = parseManifest('---\nname: greeter\n---\n\nYou are kind.\n', 'greeter.md');
    expect(manifest.persona).toBe('You are kind.');
  });

  it('gives one digest to the same agent however it is spelt', () => {
    const yaml = parseManifest('name: same\nhandlers: [echo]\npersona: Be brief.\nresources: {memory: 256Mi}\n');
    const md = parseManifest('---\nname: same\n---\nBe brief.\n', 'same.md');
    expect(md.digest).toBe(yaml.digest);
    expect(yaml.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(parseManifest('name: same\nreplicas: 2\npersona: Be brief.\n').digest).not.toBe(yaml.digest);
  });

  it('reads resources.gpus as whole GPUs, 1 to 16, and leaves the digest of a manifest without it as it was', () => {
    expect(parseManifest('name: trainer\nresources: { gpus: 2 }\n').manifest.resources.gpus).toBe(2);
    expect(() => parseManifest('name: trainer\nresources: { gpus: 0 }\n')).toThrow(/at least 1 gpu/);
    expect(() => parseManifest('name: trainer\nresources: { gpus: 1.5 }\n')).toThrow(ManifestError);
    expect(() => parseManifest('name: trainer\nresources: { gpus: 17 }\n')).toThrow(/at most 16 gpus/);
    // Computed before the field existed: stored deployments keep their digests.
    expect(parseManifest('name: same\nhandlers: [echo]\npersona: Be brief.\nresources: {memory: 256Mi}\n').digest).toBe('sha256:7bbaa5d7ccb92896e2fd597be5a076853b1a07d69afd4af538901e3cc7a4af1e');
  });

  it('accepts every example shipped in examples/', () => {
    for (const f of ['echo.agent.yaml', 'shell.agent.yaml', 'greeter.agent.md', 'agents/coder.agent.md']) {
      const { manifest } = parseManifest(readFileSync(join(EXAMPLES, f), 'utf8'), f);
      expect(manifest.name).toBe(f.split('/').at(-1)!.split('.')[0]);
    }
  });

  it('publishes the schema as JSON Schema that forbids unknown keys', () => {
    const schema = manifestJsonSchema() as { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
    expect(schema.required).toContain('name');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'handlers', 'resources', 'network', 'replicas', 'heartbeat']));
  });
});
