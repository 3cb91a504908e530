import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../src/index.js';

/** The CIM agent.md exactly as the users' document (seed 4) writes it. */
const CIM_EXAMPLE = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'agents', 'nats-expert.cim.agent.md'), 'utf8');

function issuesOf(text: string): { field: string; expected: string }[] {
  try {
    parseManifest(text, 'agent.md');
  } catch (err) {
    if (err instanceof ManifestError) return err.issues;
    throw err;
  }
  throw new Error('expected the manifest to be refused');
}

describe('the CIM dialect', () => {
  it("translates the document's example into our manifest", () => {
    const p = parseManifest(CIM_EXAMPLE, 'nats-expert.md');
    expect(p.dialect).toBe('cim');
    expect(p.manifest.name).toBe('nats-expert');
    expect(p.manifest.version).toBe('0.1.0');
    expect(p.manifest.description).toBe('NATS Infrastructure Expert');
    // systemd units: "8G" is 8 GiB, "300%" three cores, tasks_max the pids limit.
    expect(p.manifest.resources).toMatchObject({ memory: 8 * 1024 ** 3, cpu: 3, pids: 512 });
    expect(p.manifest.placement).toEqual({ node: 'dgx-spark-01', labels: {} });
    expect(p.manifest.model).toEqual({ provider: 'ollama', name: 'llama3.1:70b', fallbacks: [] });
    expect(p.manifest.persona).toMatch(/^# NATS Infrastructure Expert - System Prompt/);
    expect(p.manifest.metadata).toMatchObject({
      'cim.agent.id': 'c3ea221c-0562-4ea0-92b3-6d24224dcd61',
      'cim.conceptual_space': { boundary: 'infrastructure-enabler', quality_dimensions: [{ dimension: 'topology', weight: 0.8 }] },
      'cim.model.ollama.url': 'http://localhost:11434',
      'cim.nats': { url: 'nats://10.0.20.1:4222' },
    });
    expect(p.manifest.metadata).toHaveProperty('cim.dependencies');
    // What is kept without effect is said, not dropped in silence.
    expect(p.notes.map((n) => n.field).sort()).toEqual(['model.ollama.url', 'nats']);
  });

  it('gives the same digest as the same agent written in our dialect', () => {
    const cim = parseManifest(CIM_EXAMPLE, 'nats-expert.md');
    const ours = parseManifest(JSON.stringify(cim.document), 'agent.yaml');
    expect(ours.dialect).toBe('aiflock');
    expect(ours.digest).toBe(cim.digest);
  });

  it('keeps our own keys beside the CIM ones', () => {
    const p = parseManifest('---\nagent: {name: helper}\nhandlers: [echo, shell]\ntools: {shell: true}\n---\nBe brief.\n', 'agent.md');
    expect(p.manifest.handlers).toEqual(['echo', 'shell']);
    expect(p.manifest.persona).toBe('Be brief.');
  });

  const BAD: { name: string; text: string; field: string; expected: RegExp }[] = [
    { name: 'a key neither dialect knows', text: 'agent: {name: a}\nconceptual_spaces: {}\n', field: 'conceptual_spaces', expected: /no such field/ },
    { name: 'an unknown key under agent', text: 'agent: {name: a, nickname: b}\n', field: 'agent.nickname', expected: /no such field in the CIM dialect/ },
    { name: 'an unknown resource', text: 'agent: {name: a}\ndeployment: {resources: {io_weight: 10}}\n', field: 'deployment.resources.io_weight', expected: /no such field/ },
    { name: 'a memory_max systemd-only', text: 'agent: {name: a}\ndeployment: {resources: {memory_max: infinity}}\n', field: 'deployment.resources.memory_max', expected: /"8G"/ },
    { name: 'a cpu_quota without %', text: 'agent: {name: a}\ndeployment: {resources: {cpu_quota: 3}}\n', field: 'deployment.resources.cpu_quota', expected: /"300%"/ },
    { name: 'a model block for another provider', text: 'agent: {name: a}\nmodel: {provider: ollama, openai: {model: x}}\n', field: 'model.ollama', expected: /block/ },
    { name: 'a field set in both dialects', text: 'agent: {name: a}\nname: b\n', field: 'name', expected: /one spelling: agent.name/ },
    { name: 'a resource set in both dialects', text: 'agent: {name: a}\nresources: {memory: 1Gi}\ndeployment: {resources: {memory_max: 2G}}\n', field: 'resources.memory', expected: /memory_max/ },
    { name: 'a bad translated value (name)', text: 'agent: {name: Not_Valid}\n', field: 'name', expected: /lower-case/ },
  ];
  for (const c of BAD) {
    it(`refuses ${c.name}, naming the field`, () => {
      const issue = issuesOf(`---\n${c.text}---\n`).find((i) => i.field === c.field);
      expect(issue, JSON.stringify(issuesOf(`---\n${c.text}---\n`))).toBeDefined();
      expect(issue!.expected).toMatch(c.expected);
    });
  }
});
