import * as z from 'zod';
import { InstanceId } from './names.js';

/**
 * `WS /v1/agents/{name}/exec`: a command in one of the agent's sandboxes (`aiflock agent exec`).
 * The command is in the query (`cmd` once per argument), so it is known, checked and audited
 * before the socket opens; a refusal is an ordinary HTTP error from the error table.
 */
const flag = z.enum(['true', 'false', '1', '0']).optional().transform((v) => v === 'true' || v === '1');
export const ExecQuery = z
  .object({
    /** argv; one `cmd=` per argument. A single value arrives as a string. */
    cmd: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .pipe(z.array(z.string().min(1).max(4096)).min(1, 'cmd: give the command to run, one cmd= per argument').max(256)),
    /** Which instance; the agent's oldest running one when absent. */
    instance: InstanceId.optional(),
    tty: flag,
    stdin: flag,
    cols: z.coerce.number().int().min(1).max(1000).optional(),
    rows: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();
export type ExecQuery = z.infer<typeof ExecQuery>;

/** Output bytes travel base64-encoded, so any byte a program writes arrives as written. */
export const ExecServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), instance: z.string(), runtime: z.string() }),
  z.object({ type: z.literal('stdout'), data: z.string() }),
  z.object({ type: z.literal('stderr'), data: z.string() }),
  z.object({ type: z.literal('exit'), code: z.number().int() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ExecServerMessage = z.infer<typeof ExecServerMessage>;

export const ExecClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdin'), data: z.string().max(65_536) }),
  /** End of input: the command reads EOF. */
  z.object({ type: z.literal('eof') }),
  z.object({ type: z.literal('resize'), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
]);
export type ExecClientMessage = z.infer<typeof ExecClientMessage>;
