import * as z from 'zod';
import { TaskStep } from './agent-loop.js';
import { TaskView } from './api.js';

/** Jobs are tasks (one concept, one table); these are the seed's job-shaped responses. */

export const CreatedJob = z.object({ jobId: z.string(), status: z.string(), created: z.boolean() });
export type CreatedJob = z.infer<typeof CreatedJob>;

export const JobList = z.object({ jobs: z.array(TaskView), nextCursor: z.string().nullable() });
export type JobList = z.infer<typeof JobList>;

export const StreamMessageType = z.enum(['log', 'status', 'result', 'error', 'heartbeat', 'step']);

/**
 * One message of `WS /v1/stream/{id}`. `id` grows with every stored event; a heartbeat repeats
 * the id of the last event sent, so a client always knows where to resume (`?after=<id>`).
 */
export const StreamMessage = z.object({ id: z.number().int(), type: StreamMessageType, ts: z.string(), payload: z.unknown() });
export type StreamMessage = z.infer<typeof StreamMessage>;

/** Client → server: resume after the given id (alternative to `?after=` on reconnect). */
/** `GET /v1/jobs/{id}/stream` (WebSocket): resume after a message id; `ticket` for browsers, which cannot send headers. */
export const JobStreamQuery = z.object({ after: z.coerce.number().int().min(0).default(0), ticket: z.string().max(200).optional() }).strict();

export const StreamClientMessage = z.object({ type: z.literal('resume'), after: z.number().int().min(0) }).strict();

/** `GET /v1/jobs/{id}/steps`: an agent loop's steps, in the order they happened. */
export const JobSteps = z.object({ steps: z.array(TaskStep) });
export type JobSteps = z.infer<typeof JobSteps>;
