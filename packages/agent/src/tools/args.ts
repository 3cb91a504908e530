import * as z from 'zod';
import { ToolError } from './tool.js';

/** A tool's arguments, checked against its schema; a mismatch is a refusal the model can read. */
export function parseArgs<S extends z.ZodType>(tool: string, schema: S, args: Record<string, unknown>): z.output<S> {
  const parsed = schema.safeParse(args);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
  throw new ToolError(`invalid ${tool} arguments: ${issues}`);
}

/** The JSON Schema the model is offered, from the same zod schema the arguments are checked with. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
