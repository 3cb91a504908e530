import * as z from 'zod';
import { SandboxUsage } from './api.js';
import { InstanceId } from './names.js';

/**
 * What the control plane asks of one node agent about the sandboxes it runs, as requests on
 * `nodectl.<name>.exec` and `nodectl.<name>.stats` (see nodeSubjects): only the control plane
 * may publish there and only that node may answer. The control plane never talks to a remote
 * Docker engine; the node runs the command or measures the sandbox through its own runtime.
 */

/**
 * A session id: 128 random bits (base64url), so nobody can guess another's subjects; it is a
 * subject token, so it has no dots or wildcards.
 */
export const NODE_EXEC_SESSION_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;
export const NodeExecSessionId = z.string().regex(NODE_EXEC_SESSION_PATTERN, 'a session id of 22-64 base64url characters');

/** Raw bytes per frame of output or input (base64 in the frame): well under the bus's 1 MiB messages. */
export const NODE_EXEC_CHUNK_BYTES = 32 * 1024;

/**
 * `nodectl.<name>.exec`: open a session, answered once (NodeExecOpened) after the node's
 * runtime has started the command. Before asking, the control plane listens on
 * `node.<name>.exec.<session>` (the command's output, exit and errors); it sends input,
 * resizes and cancel on `nodectl.<name>.exec.<session>`. Frames both ways are NodeExecFrame.
 */
export const NodeExecOpen = z
  .object({
    session: NodeExecSessionId,
    instanceId: InstanceId,
    command: z.array(z.string().min(1).max(4096)).min(1).max(256),
    tty: z.boolean(),
    /** Keep the command's stdin open for input frames. */
    stdin: z.boolean(),
    cols: z.number().int().min(1).max(10_000).optional(),
    rows: z.number().int().min(1).max(10_000).optional(),
  })
  .strict();
export type NodeExecOpen = z.infer<typeof NodeExecOpen>;

/** Refused or failed: the error code of the error table and why. */
const NodeOpError = z.object({ ok: z.literal(false), code: z.string(), message: z.string() });

export const NodeExecOpened = z.discriminatedUnion('ok', [z.object({ ok: z.literal(true) }), NodeOpError]);
export type NodeExecOpened = z.infer<typeof NodeExecOpened>;

const Seq = z.number().int().min(1);
const Base64 = z.string().max(Math.ceil(NODE_EXEC_CHUNK_BYTES / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

/**
 * One message of a session, either way. Data frames carry a sequence number (1, 2, ...):
 * the receiver delivers them in order, once, and acknowledges the highest it has delivered
 * (`ack`); the sender keeps at most a window of unacknowledged frames on the bus and sends
 * them again when no acknowledgement comes (core NATS may drop on a reconnect). `ping` says
 * the sender is alive when it has nothing else to say; `cancel` (control plane only) ends the
 * command as a client that went away does.
 */
export const NodeExecFrame = z.discriminatedUnion('k', [
  // node → control plane
  z.object({ k: z.enum(['stdout', 'stderr']), seq: Seq, data: Base64 }).strict(),
  z.object({ k: z.literal('exit'), seq: Seq, code: z.number().int() }).strict(),
  z.object({ k: z.literal('error'), seq: Seq, code: z.string().max(100), message: z.string().max(4096) }).strict(),
  // control plane → node
  z.object({ k: z.literal('stdin'), seq: Seq, data: Base64 }).strict(),
  z.object({ k: z.literal('eof'), seq: Seq }).strict(),
  z.object({ k: z.literal('resize'), seq: Seq, cols: z.number().int().min(1).max(10_000), rows: z.number().int().min(1).max(10_000) }).strict(),
  z.object({ k: z.literal('cancel') }).strict(),
  // both
  // seq: delivered up to (frees the window); got: received up to, held for a reader who is behind (not to be sent again).
  z.object({ k: z.literal('ack'), seq: z.number().int().min(0), got: z.number().int().min(0).optional() }).strict(),
  z.object({ k: z.literal('ping') }).strict(),
]);
export type NodeExecFrame = z.infer<typeof NodeExecFrame>;
/** What the node sends in order; what the control plane sends in order. */
export type NodeExecOutput = Extract<NodeExecFrame, { k: 'stdout' | 'stderr' | 'exit' | 'error' }>;
export type NodeExecInput = Extract<NodeExecFrame, { k: 'stdin' | 'eof' | 'resize' }>;

/** `nodectl.<name>.stats`: what its sandboxes use now. */
export const NodeStatsRequest = z.object({ instanceIds: z.array(InstanceId).max(1000) }).strict();
export type NodeStatsRequest = z.infer<typeof NodeStatsRequest>;

export const NodeStatsReply = z.discriminatedUnion('ok', [
  /** Per instance asked: its usage, or null when it does not run there (or the runtime cannot measure). */
  z.object({ ok: z.literal(true), usage: z.record(z.string(), SandboxUsage.nullable()) }),
  NodeOpError,
]);
export type NodeStatsReply = z.infer<typeof NodeStatsReply>;
