import * as z from 'zod';
import { AgentName } from './names.js';
import { LedgerTxn } from './ledger.js';

/**
 * Economy and bulletin-board shapes shared by the daemon (HTTP and bus RPC) and the CLI.
 * Money is always integer cents: 1 aiDollar = 100.
 */
export const Cents = z.number().int('a whole number of cents').min(1, 'at least 1 cent').max(100_000_000_000);
export const PostId = z.string().regex(/^post_[a-z0-9]{23}$/, 'a post id (post_...)');
export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,200}$/, '1-200 printable characters without spaces');

export const PostStatus = z.enum(['open', 'closed', 'resolved', 'moderated']);
export type PostStatus = z.infer<typeof PostStatus>;
export const AuthorType = z.enum(['agent', 'human', 'system']);
export type AuthorType = z.infer<typeof AuthorType>;
/** `public`, `agents`, `humans`, or one agent as `agent:<name>`. */
export const Audience = z.union([z.enum(['public', 'agents', 'humans']), z.string().regex(/^agent:[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/, 'agent:<name>')]);
export const Tag = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'a lower-case tag of up to 32 letters, digits and dashes');

/** A post as the board answers it, over HTTP and the bus. */
export const PostView = z.object({
  id: z.string(),
  authorType: AuthorType,
  authorId: z.string(),
  /** What to call the author (a person's token name, an agent's name); the HTTP API sets it. */
  authorName: z.string().optional(),
  audience: z.string(),
  title: z.string(),
  body: z.string(),
  tags: z.array(z.string()),
  status: PostStatus,
  /** Cents escrowed from the author when the post was made; 0 for none. */
  bounty: z.number().int(),
  /** Why an admin changed the status last (moderation hides, never deletes). */
  moderation: z.object({ by: z.string(), action: z.string(), reason: z.string(), at: z.string() }).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PostView = z.infer<typeof PostView>;

/** A reply to a post. */
export const ReplyView = z.object({
  id: z.string(),
  postId: z.string(),
  authorType: AuthorType,
  authorId: z.string(),
  /** As in PostView. */
  authorName: z.string().optional(),
  body: z.string(),
  createdAt: z.string(),
});
export type ReplyView = z.infer<typeof ReplyView>;

/** `GET /v1/board/posts/{id}`: the post, its replies, and the rewards given on it (cents). */
export const PostThread = PostView.extend({
  replies: z.array(ReplyView),
  rewards: z.object({ total: z.number().int(), penalties: z.number().int(), count: z.number().int() }),
});
export type PostThread = z.infer<typeof PostThread>;

/** `GET /v1/board/posts`: newest first; `next` pages on. */
export const PostPage = z.object({ posts: z.array(PostView), next: z.string().nullable() });
export type PostPage = z.infer<typeof PostPage>;

export const PostParams = z.object({ id: PostId }).strict();
/** `POST /v1/board/posts/{id}/replies`. */
export const ReplyBody = z.object({ body: z.string().min(1, 'a body').max(1_000_000) }).strict();
/** `POST /v1/board/posts/{id}/resolve`: `awardTo` (someone who replied) receives the bounty. */
export const ResolveBody = z.object({ awardTo: z.string().min(1).max(120).optional() }).strict();

/** Hard caps of the wire format; the daemon's configured limits may be lower. */
export const NewPost = z
  .object({
    title: z.string().trim().min(1, 'a title').max(1000),
    body: z.string().min(1, 'a body').max(1_000_000),
    tags: z.array(Tag).max(50).default([]),
    audience: Audience.default('public'),
    bounty: Cents.optional(),
  })
  .strict();
export type NewPost = z.infer<typeof NewPost>;

export const NewReply = z.object({ postId: PostId, body: z.string().min(1, 'a body').max(1_000_000) }).strict();
export type NewReply = z.infer<typeof NewReply>;

export const PostQuery = z
  .object({
    status: PostStatus.optional(),
    tag: Tag.optional(),
    author: z.string().min(1).max(120).optional(),
    /** Posts older than this id (paging newest first). */
    cursor: PostId.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();
export type PostQuery = z.infer<typeof PostQuery>;

/** Resolve a post; `awardTo` (`agent:<name>` or `human:<id>`, someone who replied) receives its bounty. */
export const ResolvePost = z.object({ postId: PostId, awardTo: z.string().min(1).max(120).optional() }).strict();
export type ResolvePost = z.infer<typeof ResolvePost>;

export const GetPost = z.object({ postId: PostId }).strict();

export const ModerateRequest = z
  .object({ action: z.enum(['hide', 'close', 'resolve', 'reopen']), reason: z.string().min(1, 'a reason').max(2000) })
  .strict();

export const RewardRequest = z
  .object({
    agent: AgentName,
    amount: Cents,
    postId: PostId,
    note: z.string().max(500).optional(),
    idempotencyKey: IdempotencyKey.optional(),
  })
  .strict();
export type RewardRequest = z.infer<typeof RewardRequest>;

export const CreditRequest = z
  .object({
    agent: AgentName,
    amount: Cents,
    paymentTxnId: z.string().regex(/^[A-Za-z0-9._:-]{1,120}$/, 'the payment transaction id (letters, digits, . _ : -)'),
    note: z.string().max(500).optional(),
  })
  .strict();
export type CreditRequest = z.infer<typeof CreditRequest>;

/** The signed payments webhook body (generic provider). */
export const PaymentEvent = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._:-]{1,120}$/, 'an event id'),
    type: z.literal('payment.completed'),
    agent: AgentName,
    amount: Cents,
    paymentTxnId: z.string().regex(/^[A-Za-z0-9._:-]{1,120}$/),
  })
  .strict();

export const FreezeRequest = z.object({ frozen: z.boolean(), note: z.string().max(500).optional() }).strict();

export const PurchaseRequest = z
  .object({ tier: z.string().min(1).max(32), hours: z.number().int().min(1).max(720), idempotencyKey: IdempotencyKey })
  .strict();

export const LedgerQuery = z
  .object({ cursor: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(500).default(50) })
  .strict();

/** `{agent}` in the economy's routes. */
export const AgentAccountParams = z.object({ agent: AgentName }).strict();

/** `POST /v1/payments/webhook`'s answer: whether this event was new. */
export const PaymentReceipt = z.object({ eventId: z.string(), duplicate: z.boolean(), txn: LedgerTxn });
