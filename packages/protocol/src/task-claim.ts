import * as z from 'zod';
import { TaskId } from './names.js';
import { TaskStatus } from './task.js';

/**
 * `tasks.claim`: may this instance run a task JetStream delivered to it again?
 *
 * JetStream delivers at least once. A task comes again when its holder died (it must run
 * again), but also when an acknowledgement or a consumer's delivery record was lost with a
 * NATS server (it must not: it ran, or still runs elsewhere). An instance asks the control
 * plane, which knows how the task stands, before running such a delivery.
 */
export const TaskClaimRpc = z.object({ taskId: TaskId, delivery: z.number().int().min(1) }).strict();
export type TaskClaimRpc = z.input<typeof TaskClaimRpc>;

export const TaskClaimVerdict = z.enum([
  /** Nobody else holds it: run it. */
  'run',
  /** It has ended (its result is stored): acknowledge the delivery, run nothing. */
  'finished',
  /** A live instance runs it now: keep the delivery and ask again later. */
  'held',
  /**
   * The control plane has not yet read all that instances stored about tasks (a NATS server
   * was lost, or its reading lags): it cannot tell who holds this one. Keep the delivery and
   * ask again.
   */
  'wait',
]);
export type TaskClaimVerdict = z.infer<typeof TaskClaimVerdict>;

export const TaskClaim = z.object({ verdict: TaskClaimVerdict, status: TaskStatus, holder: z.string().nullable() }).strict();
export type TaskClaim = z.infer<typeof TaskClaim>;

/**
 * `tasks.pull`: deliver up to `batch` tasks of the caller's own queue to
 * `deliveries.<caller>.<request>`, waiting up to `expiresMs` for them.
 *
 * The control plane makes the pull request on the instance's behalf. A pull request an
 * instance made itself would cross the accounts through a service import, whose reply route
 * nats-server drops whenever the agents account is updated (every revocation of a gone
 * instance's credentials): the server then fills that request and the tasks it hands out go
 * nowhere until the ack wait runs out. Deliveries on `deliveries.>` cross as a stream, which
 * an account update leaves alone (bench/README.md, "a 30-second stall found"). Only while the
 * control plane does not answer does an instance pull itself (no account update comes then:
 * only the control plane makes them).
 */
export const TaskPullRpc = z
  .object({
    batch: z.number().int().min(1).max(1000),
    expiresMs: z.number().int().min(1_000).max(60_000),
    /** Names the reply subject's last token, so the instance can tell its requests apart. */
    request: z.string().regex(/^[0-9]{1,12}$/, 'a number of up to 12 digits'),
  })
  .strict();
export type TaskPullRpc = z.input<typeof TaskPullRpc>;
export const TaskPullReply = z.object({ reply: z.string() }).strict();
export type TaskPullReply = z.infer<typeof TaskPullReply>;
