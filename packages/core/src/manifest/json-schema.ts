import { z } from 'zod';
import { ManifestSchema } from './schema.js';

/** The manifest schema as JSON Schema (what an author writes), for editors and other tools. */
export function manifestJsonSchema(): Record<string, unknown> {
  return {
    $id: 'https://aiflock.dev/schemas/agent-manifest.v1.json',
    title: 'aiflock agent manifest',
    ...z.toJSONSchema(ManifestSchema, { io: 'input', unrepresentable: 'any' }),
  };
}
