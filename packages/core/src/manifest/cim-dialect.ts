import { z } from 'zod';
import type { ManifestIssue } from './parse.js';

/**
 * The CIM dialect: the `agent.md` front matter of the users' CIM documents (`agent:`,
 * `conceptual_space:`, `model: {provider, <provider>: {url, model}}`, `nats:`, `deployment:
 * {target_node, resources: {memory_max, cpu_quota, tasks_max}}`, `dependencies:`), translated
 * into our manifest. A document is in this dialect when its `agent` key is a mapping (our own
 * manifest has no `agent` key). Keys of our manifest may sit beside the CIM ones (e.g.
 * `handlers`); anything neither dialect knows is left for the manifest schema to name.
 *
 * Nothing is dropped in silence: what our manifest keeps but does not act on (the document's
 * own bus address, the provider URL) is kept under `metadata` and reported as a note.
 */

/** Something the translation kept but that has no effect on the flock, with the reason. */
export interface DialectNote {
  field: string;
  message: string;
}

export interface DialectTranslation {
  dialect: 'aiflock' | 'cim';
  /** The manifest as an author of our dialect would write it. */
  raw: Record<string, unknown>;
  notes: DialectNote[];
}

const CIM_KEYS = ['agent', 'conceptual_space', 'model', 'nats', 'deployment', 'dependencies'] as const;

const CimAgent = z
  .object({
    id: z.string().min(1).max(200).optional(),
    name: z.string().min(1),
    display_name: z.string().max(2000).optional(),
    description: z.string().max(2000).optional(),
    version: z.string().optional(),
  })
  .strict();

/** `{provider: ollama, ollama: {url, model}}`: the block named by the provider says which model. */
const CimModel = z
  .object({ provider: z.string().min(1) })
  .catchall(z.object({ url: z.string().optional(), model: z.string().min(1) }).strict());

const CimDeployment = z
  .object({
    target_node: z.string().min(1).optional(),
    resources: z
      .object({
        memory_max: z.union([z.string(), z.number()]).optional(),
        cpu_quota: z.union([z.string(), z.number()]).optional(),
        tasks_max: z.number().int().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const CimNats = z.object({ url: z.string().optional(), subjects: z.unknown().optional() }).strict();

/** True when the document is written in the CIM dialect. */
export function isCimDocument(raw: Record<string, unknown>): boolean {
  return isPlainObject(raw['agent']);
}

/** Translate a CIM document, or pass one of ours through unchanged. Issues name the CIM field. */
export function translateDialect(raw: Record<string, unknown>): DialectTranslation | { issues: ManifestIssue[] } {
  if (!isCimDocument(raw)) return { dialect: 'aiflock', raw, notes: [] };
  const issues: ManifestIssue[] = [];
  const notes: DialectNote[] = [];
  const out: Record<string, unknown> = {};
  const metadata: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!(CIM_KEYS as readonly string[]).includes(k)) out[k] = v;
  const set = (field: string, cimField: string, value: unknown) => {
    if (out[field] !== undefined) issues.push({ field, value: out[field], expected: `one spelling: ${cimField} already sets it` });
    else out[field] = value;
  };

  const agent = check(CimAgent, raw['agent'], 'agent', issues);
  if (agent) {
    set('name', 'agent.name', agent.name);
    if (agent.version !== undefined) set('version', 'agent.version', agent.version);
    const description = agent.description ?? agent.display_name;
    if (description !== undefined) set('description', agent.description === undefined ? 'agent.display_name' : 'agent.description', description);
    if (agent.id !== undefined) metadata['cim.agent.id'] = agent.id;
    if (agent.display_name !== undefined) metadata['cim.agent.display_name'] = agent.display_name;
  }

  if (raw['model'] !== undefined) {
    const model = check(CimModel, raw['model'], 'model', issues);
    if (model) {
      const { provider, ...blocks } = model;
      const block = blocks[provider];
      const others = Object.keys(blocks).filter((k) => k !== provider);
      if (!block) issues.push({ field: `model.${provider}`, value: undefined, expected: `a block {model: "<name>"} for the provider "${provider}"` });
      else if (others.length > 0) issues.push({ field: `model.${others[0]}`, value: blocks[others[0]!], expected: `only the block of the chosen provider "${provider}"` });
      else {
        out['model'] = { provider, name: block.model };
        if (block.url !== undefined) {
          metadata[`cim.model.${provider}.url`] = block.url;
          notes.push({ field: `model.${provider}.url`, message: `kept as metadata only: agents reach models through the flock's gateway, which uses its own configured ${provider} endpoint` });
        }
      }
    }
  }

  if (raw['nats'] !== undefined) {
    const nats = check(CimNats, raw['nats'], 'nats', issues);
    if (nats) {
      metadata['cim.nats'] = nats;
      notes.push({ field: 'nats', message: "kept as metadata only: every sandbox connects to this flock's bus with its own credentials and the flock's subjects (NATS_URL is set for it)" });
    }
  }

  if (raw['deployment'] !== undefined) {
    const deployment = check(CimDeployment, raw['deployment'], 'deployment', issues);
    if (deployment) {
      if (deployment.target_node !== undefined) set('placement', 'deployment.target_node', { node: deployment.target_node });
      const r = deployment.resources;
      if (r) {
        const resources: Record<string, unknown> = isPlainObject(out['resources']) ? { ...out['resources'] } : {};
        const put = (field: string, cimField: string, value: unknown) => {
          if (value === null) return;
          if (resources[field] !== undefined) issues.push({ field: `resources.${field}`, value: resources[field], expected: `one spelling: ${cimField} already sets it` });
          else resources[field] = value;
        };
        if (r.memory_max !== undefined) put('memory', 'deployment.resources.memory_max', systemdSize(r.memory_max, issues));
        if (r.cpu_quota !== undefined) put('cpu', 'deployment.resources.cpu_quota', cpuQuota(r.cpu_quota, issues));
        if (r.tasks_max !== undefined) put('pids', 'deployment.resources.tasks_max', r.tasks_max);
        out['resources'] = resources;
      }
    }
  }

  if (raw['conceptual_space'] !== undefined) metadata['cim.conceptual_space'] = raw['conceptual_space'];
  if (raw['dependencies'] !== undefined) metadata['cim.dependencies'] = raw['dependencies'];
  if (Object.keys(metadata).length > 0) {
    const own = isPlainObject(out['metadata']) ? out['metadata'] : {};
    out['metadata'] = { ...metadata, ...own };
  }
  return issues.length > 0 ? { issues } : { dialect: 'cim', raw: out, notes };
}

/** systemd's MemoryMax: bytes, or K/M/G/T meaning powers of 1024 ("8G" is 8 GiB). */
function systemdSize(value: string | number, issues: ManifestIssue[]): string | number | null {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)([KMGT])?$/i.exec(value.trim());
  if (!m) {
    issues.push({ field: 'deployment.resources.memory_max', value, expected: 'a size as systemd writes it, e.g. "512M" or "8G" (infinity and percentages have no meaning in a sandbox)' });
    return null;
  }
  return m[2] ? `${m[1]}${m[2].toUpperCase()}i` : Number(m[1]);
}

/** systemd's CPUQuota: "300%" is three cores. */
function cpuQuota(value: string | number, issues: ManifestIssue[]): number | null {
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)%$/.exec(value.trim()) : null;
  if (!m) {
    issues.push({ field: 'deployment.resources.cpu_quota', value, expected: 'a percentage of one core as systemd writes it, e.g. "50%" or "300%"' });
    return null;
  }
  return Number(m[1]) / 100;
}

function check<T>(schema: z.ZodType<T>, value: unknown, field: string, issues: ManifestIssue[]): T | null {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  for (const i of r.error.issues) {
    const path = [field, ...i.path.map(String)];
    if (i.code === 'unrecognized_keys') {
      for (const key of i.keys) issues.push({ field: [...path, key].join('.'), value: undefined, expected: 'no such field in the CIM dialect; check the spelling' });
    } else {
      issues.push({ field: path.join('.'), value: valueAt(value, i.path.map(String)), expected: i.message.replace(/^Invalid input: expected /, 'a ') });
    }
  }
  return null;
}

function valueAt(root: unknown, path: string[]): unknown {
  let cur: unknown = root;
  for (const k of path) cur = isPlainObject(cur) ? cur[k] : undefined;
  return cur;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
