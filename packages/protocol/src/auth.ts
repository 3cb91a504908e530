import * as z from 'zod';

/** Shapes of the auth API: tokens, browser sessions and stream tickets. */

export const TokenName = z.string().min(1).max(100).regex(/^[\w .@:-]+$/, 'letters, digits, spaces and . _ @ : -');

export const CreateTokenRequest = z
  .object({
    name: TokenName,
    scopes: z.array(z.string()).min(1, 'at least one scope'),
    /** Lifetime in milliseconds; omitted means the token does not expire. */
    expiresInMs: z.number().int().min(1000).max(10 * 365 * 86_400_000).optional(),
  })
  .strict();
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;

/** `{id}` in a token's routes. */
export const TokenIdParams = z.object({ id: z.string().regex(/^tok_[0-9a-f]{16}$/, 'a token id: tok_ and 16 hex digits') });

export const TokenView = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  revoked: z.boolean(),
});
export type TokenView = z.infer<typeof TokenView>;

/** The one time the secret is shown. */
export const CreatedToken = TokenView.extend({ token: z.string() });
export type CreatedToken = z.infer<typeof CreatedToken>;

export const TokenList = z.object({ tokens: z.array(TokenView) });
export type TokenList = z.infer<typeof TokenList>;

export const CreateSessionRequest = z.object({ token: z.string().min(1).max(200) }).strict();

export const SessionView = z.object({
  /** `name` is the token's name: what a page calls the person (the id is a credential's handle). */
  actor: z.object({ id: z.string(), name: z.string(), scopes: z.array(z.string()) }),
  /** Send this in `x-csrf-token` on every state-changing request made with the cookie. */
  csrfToken: z.string(),
  expiresAt: z.string(),
});
export type SessionView = z.infer<typeof SessionView>;

export const StreamTicketRequest = z.object({ jobId: z.string().min(1).max(48) }).strict();
export const StreamTicket = z.object({ ticket: z.string(), expiresAt: z.string() });
export type StreamTicket = z.infer<typeof StreamTicket>;
