import * as z from 'zod';

/** The hash-chained audit log as the API answers it (`/v1/audit*`) and the CLI prints it. */

export const AUDIT_OUTCOMES = ['ok', 'denied', 'error'] as const;
export const AuditOutcome = z.enum(AUDIT_OUTCOMES);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

/** One audit entry as stored: its place in the chain (seq, prevHash) and its own hash. */
export const AuditEntry = z.object({
  seq: z.number().int(),
  ts: z.string(),
  actor: z.string(),
  /** The token's name, added by the API for people to read; never part of the hash chain. */
  actorName: z.string().optional(),
  action: z.string(),
  resource: z.string(),
  outcome: AuditOutcome,
  requestId: z.string().nullable(),
  correlationId: z.string().nullable(),
  details: z.unknown(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** The newest entry's position, which is all a verifier needs to detect truncation. */
export const AuditHead = z.object({ seq: z.number().int(), hash: z.string() });
export type AuditHead = z.infer<typeof AuditHead>;

export const TamperKind = z.enum(['edited', 'deleted', 'reordered', 'truncated', 'anchor_invalid']);
export type TamperKind = z.infer<typeof TamperKind>;

export const AuditVerdict = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), entries: z.number().int(), head: AuditHead.nullable(), anchored: AuditHead.nullable() }),
  z.object({ ok: z.literal(false), seq: z.number().int(), reason: TamperKind, message: z.string(), entries: z.number().int() }),
]);
export type AuditVerdict = z.infer<typeof AuditVerdict>;

const Instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString());
const Seq = z.coerce.number().int().min(0);

/** `GET /v1/audit`. */
export const AuditQuery = z
  .object({
    actor: z.string().min(1).max(200).optional(),
    action: z.string().min(1).max(100).optional(),
    /** Exact, or a prefix ending in `*`. */
    resource: z.string().min(1).max(300).optional(),
    since: Instant.optional(),
    until: Instant.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    /** Newest first: entries older than this seq (the previous page's nextCursor). */
    cursor: Seq.optional(),
    /** Oldest first: entries newer than this seq (to follow the log). */
    after: Seq.optional(),
  })
  .strict()
  .refine((q) => q.cursor === undefined || q.after === undefined, { message: 'cursor and after cannot be combined', path: ['after'] });

export const AuditPage = z.object({ entries: z.array(AuditEntry), nextCursor: z.number().int().nullable() });
export type AuditPage = z.infer<typeof AuditPage>;

/** `GET /v1/audit/verify`. */
export const AuditVerifyQuery = z
  .object({
    /** A head recorded earlier (`seq:hash`, as `aiflock audit verify` prints it), checked too. */
    head: z
      .string()
      .regex(/^[1-9]\d{0,15}:[0-9a-f]{64}$/, 'seq:hash, e.g. 42:<64 hex digits>')
      .transform((h) => {
        const [seq, hash] = h.split(':');
        return { seq: Number(seq), hash: hash! };
      })
      .optional(),
  })
  .strict();
