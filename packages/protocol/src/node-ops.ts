import * as z from 'zod';
import { SandboxUsage } from './api.js';
import { InstanceId } from './names.js';

/**
 * What the control plane asks of one node agent about the sandboxes it runs, as requests on
 * `nodectl.<name>.exec` and `nodectl.<name>.stats` (see nodeSubjects): only the control plane
 * may publish there and only that node may answer. The control plane never talks to a remote
 * Docker engine; the node runs the command or measures the sandbox through its own runtime.
 */

/** Output a remote command may return, per stream; more is cut (and said so). */
export const NODE_EXEC_OUTPUT_MAX = 256 * 1024;

/** `nodectl.<name>.exec`: run a command in one of its sandboxes to its end (no terminal, input given whole). */
export const NodeExecRequest = z
  .object({
    instanceId: InstanceId,
    command: z.array(z.string().min(1).max(4096)).min(1).max(256),
    /** Bytes for the command's stdin (base64), then end of input; absent: none. */
    stdin: z.string().max(1024 * 1024).optional(),
    /** The command is killed after this long. */
    timeoutMs: z.number().int().min(100).max(600_000),
  })
  .strict();
export type NodeExecRequest = z.infer<typeof NodeExecRequest>;

/** Refused or failed: the error code of the error table and why. */
const NodeOpError = z.object({ ok: z.literal(false), code: z.string(), message: z.string() });

export const NodeExecReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** base64, as written. */
    stdout: z.string(),
    stderr: z.string(),
    exitCode: z.number().int(),
    /** Output beyond NODE_EXEC_OUTPUT_MAX was dropped, or the command was killed at its timeout. */
    truncated: z.boolean(),
    timedOut: z.boolean(),
  }),
  NodeOpError,
]);
export type NodeExecReply = z.infer<typeof NodeExecReply>;

/** `nodectl.<name>.stats`: what its sandboxes use now. */
export const NodeStatsRequest = z.object({ instanceIds: z.array(InstanceId).max(1000) }).strict();
export type NodeStatsRequest = z.infer<typeof NodeStatsRequest>;

export const NodeStatsReply = z.discriminatedUnion('ok', [
  /** Per instance asked: its usage, or null when it does not run there (or the runtime cannot measure). */
  z.object({ ok: z.literal(true), usage: z.record(z.string(), SandboxUsage.nullable()) }),
  NodeOpError,
]);
export type NodeStatsReply = z.infer<typeof NodeStatsReply>;
