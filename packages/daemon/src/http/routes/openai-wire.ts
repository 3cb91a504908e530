import { FlockError, type OutputFormat, type ToolDefinition } from '@aiflock/core';


/** What OpenAI's Chat Completions and Responses APIs share on the wire, parsed one way for both. */

export function toolDefinition(t: { name: string; description?: string | null; parameters?: Record<string, unknown> | null }): ToolDefinition {
  return { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters ?? { type: 'object', properties: {} } };
}

/** `json_object` is any JSON; `json_schema` without a schema is too. */
export function outputFormat(f: { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; schema?: Record<string, unknown> | null } | undefined): OutputFormat | undefined {
  if (f?.type === 'json_object') return 'json';
  if (f?.type === 'json_schema') return f.schema ? { schema: f.schema } : 'json';
  return undefined;
}

/** A tool call's arguments arrive as a JSON string; the gateway takes the object. */
export function parseArgs(raw: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(raw || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new FlockError('validation_failed', `tool call arguments must be a JSON object, got: ${raw.slice(0, 80)}`);
}
